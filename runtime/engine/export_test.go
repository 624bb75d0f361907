package engine

import "context"

// Load is the engine's plan load, for the tests.
func Load(ctx context.Context, e *Engine) error {
	_, err := e.load(ctx)
	return err
}

// PlanLoads is how many times e decoded a revision.
func PlanLoads(e *Engine) int64 { return e.planLoads.Load() }

// AdvanceLoaded advances what is due under the plan e loaded last, as the
// daemon's advance loop does between two loads of its Run loop.
func AdvanceLoaded(ctx context.Context, e *Engine) (int, error) {
	return e.advanceAll(ctx, e.loadedNow())
}

// LoadedRevision is the revision e's workers compose with now; 0 before the
// first load.
func LoadedRevision(e *Engine) int64 {
	if l := e.loadedNow(); l != nil {
		return l.revision
	}
	return 0
}
