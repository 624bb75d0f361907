package engine_test

import (
	"sync"
	"testing"

	"github.com/campaignctl/campaignctl/runtime/engine"
)

// At start the reconcile pass and the send pass ask for the plan at once; a
// new revision is decoded once, whoever asks, and every caller gets it.
func TestConcurrentLoadsDecodeARevisionOnce(t *testing.T) {
	b := setup(t, 10)
	b.apply(t, testPlan("Hello", campaign("spring", "2026-12-01T08:00:00Z")))
	const callers = 8
	// Open a connection for each caller first, so that none waits for one
	// and the loads overlap.
	b.st.DB.SetMaxIdleConns(callers)
	var warm sync.WaitGroup
	for range callers {
		warm.Add(1)
		go func() {
			defer warm.Done()
			if _, err := b.st.DB.Exec(`SELECT pg_sleep(0.05)`); err != nil {
				t.Error(err)
			}
		}()
	}
	warm.Wait()
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, callers)
	for range callers {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs <- engine.Load(b.ctx, b.eng)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := engine.PlanLoads(b.eng); n != 1 {
		t.Fatalf("%d callers decoded the revision %d times, want once", callers, n)
	}
	// A new revision is decoded once more.
	b.apply(t, testPlan("Hello again", campaign("spring", "2026-12-01T08:00:00Z")))
	if err := engine.Load(b.ctx, b.eng); err != nil {
		t.Fatal(err)
	}
	if err := engine.Load(b.ctx, b.eng); err != nil {
		t.Fatal(err)
	}
	if n := engine.PlanLoads(b.eng); n != 2 {
		t.Fatalf("after a second revision: %d decodes, want 2", n)
	}
}
