#!/usr/bin/env bash
# make demo: the whole product on this machine with nothing installed by hand.
# Starts a private Postgres cluster and a local SMTP capture server, loads the demo
# CRM and its contact events, compiles campaigns/, applies the plan, runs the
# daemon on an accelerated clock until every campaign is sent, prints the report
# and checks two campaigns against hand-written SQL counts, then stops what it
# started. The daemon serves its status page (/ui/) and /metrics while it runs;
# the end says where they were. With CAMPAIGNCTL_DEMO_KEEP=1 (make demo KEEP=1)
# a daemon keeps serving them, on the demo's clock at real speed, until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"

data=$PWD/.data/demo
mkdir -p "$data"
rm -rf "$data/mail" "$data/plan.json"

echo "==> building campaignctl"
go build -o bin/campaignctl ./cmd/campaignctl
ctl=$PWD/bin/campaignctl

echo "==> starting a private Postgres cluster"
admin=$(bash scripts/pg.sh start)
smtp_pid=
cleanup() {
  [ -n "$smtp_pid" ] && kill "$smtp_pid" 2>/dev/null && wait "$smtp_pid" 2>/dev/null
  bash scripts/pg.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

psql=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql | sort -V | tail -1)
pq() { "$psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
db=${admin/\/postgres\?/\/campaignctl_demo?}
pq "$admin" -c 'DROP DATABASE IF EXISTS campaignctl_demo WITH (FORCE)' -c 'CREATE DATABASE campaignctl_demo'
echo "==> loading the demo CRM (testdata/crm/crm.sql)"
pq "$db" -f testdata/crm/crm.sql
echo "    $(pq "$db" -At -c 'SELECT count(*) FROM crm_lead') leads"

echo "==> starting the SMTP capture server"
"$ctl" smtp-capture --listen 127.0.0.1:0 --dir "$data/mail" > "$data/smtp.out" &
smtp_pid=$!
smtp_addr=
for _ in $(seq 100); do
  smtp_addr=$(sed -n 's/^capturing SMTP on \([^ ]*\) .*/\1/p' "$data/smtp.out")
  [ -n "$smtp_addr" ] && break
  sleep 0.1
done
[ -n "$smtp_addr" ] || { echo "SMTP capture server did not start" >&2; exit 1; }
echo "    listening on $smtp_addr, storing into $data/mail"

echo "==> campaignctl validate campaigns"
"$ctl" validate campaigns
echo "==> campaignctl plan campaigns -o plan.json"
"$ctl" plan campaigns -o "$data/plan.json"
echo "==> campaignctl migrate"
"$ctl" migrate --db "$db"
# The demo's simulated time starts now; the demo events are placed before it.
start=$(date -u +%Y-%m-%dT%H:%M:%SZ)
echo "==> campaignctl events import (page views, form submissions, opens and clicks before $start)"
go run testdata/crm/gen.go -events -now "$start" > "$data/events.ndjson"
"$ctl" events import --db "$db" "$data/events.ndjson"
echo "==> campaignctl audience makeup_browsers (an engagement segment, pushed down into Postgres)"
"$ctl" audience makeup_browsers --db "$db" --sample 3 --fields name,stage
echo "==> campaignctl audience dormant_leads (no visit, click or form submission for 90 days)"
"$ctl" audience dormant_leads --db "$db" --sample 0
echo "==> campaignctl apply"
"$ctl" apply --db "$db" "$data/plan.json"
# Workflows are triggered by events stored after the plan that brought them
# was applied: carts, NPS answers, pricing-page visits, signed quotes and
# registrations for the open day, as the shop and the CRM would post them.
echo "==> campaignctl events import (workflow triggers, after the apply)"
open_day=$(date -u -d "$start + 5 days" +%Y-%m-%dT%H:%M:%SZ)
{
  for i in $(seq 1 40); do
    printf '{"type":"cart_abandoned","model":"customer","key":%d,"at":"%s","id":"demo-cart-%d","properties":{"value":%d}}\n' "$i" "$start" "$i" $(( (i * 7) % 60 ))
  done
  for i in $(seq 41 100); do
    printf '{"type":"nps_response","model":"customer","key":%d,"at":"%s","id":"demo-nps-%d","properties":{"score":%d}}\n' "$i" "$start" "$i" $(( i % 11 ))
  done
  for i in $(seq 1 30); do
    printf '{"type":"page_view","model":"lead","key":%d,"at":"%s","topic":"pricing","id":"demo-pricing-%d"}\n' "$i" "$start" "$i"
  done
  for i in $(seq 101 110); do
    printf '{"type":"quote_signed","model":"customer","key":%d,"at":"%s","id":"demo-quote-%d"}\n' "$i" "$start" "$i"
  done
  for i in $(seq 31 60); do
    printf '{"type":"event_registration","model":"lead","key":%d,"at":"%s","id":"demo-open-day-%d","properties":{"name":"Warehouse Open Day 2026","date":"%s"}}\n' "$i" "$start" "$i" "$open_day"
  done
} > "$data/triggers.ndjson"
"$ctl" events import --db "$db" "$data/triggers.ndjson"

# The daemon's HTTP address: $CAMPAIGNCTL_DEMO_LISTEN, else the first free port
# from 9464 (another demo may hold it). Its status page needs a token: a random
# one unless CAMPAIGNCTL_UI_TOKEN is set, kept in a file only its owner reads
# and never printed.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
listen=${CAMPAIGNCTL_DEMO_LISTEN:-}
if [ -z "$listen" ]; then
  port=9464
  while port_in_use "$port"; do
    port=$((port + 1))
    [ "$port" -lt 9564 ] || { echo "no free port in 9464-9563 for the daemon: set CAMPAIGNCTL_DEMO_LISTEN=127.0.0.1:PORT" >&2; exit 1; }
  done
  listen=127.0.0.1:$port
fi
base_url=http://$listen
token_file=$data/ui-token
( umask 077; printf '%s' "${CAMPAIGNCTL_UI_TOKEN:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}" > "$token_file" )
serve_env() {
  CAMPAIGNCTL_SECRET=${CAMPAIGNCTL_SECRET:-demo-secret-not-for-production} CAMPAIGNCTL_UI_TOKEN=$(cat "$token_file") "$@"
}

echo "==> campaignctl serve --ui (accelerated clock: one simulated day per second) until every campaign is sent"
echo "    status page $base_url/ui/ and metrics $base_url/metrics while it runs"
real_start=$(date -u +%s)
# --enroll-interval 10m: state triggers (inactivity, thresholds, dates) are
# evaluated once, when the plan is applied, so the hand-written SQL below can
# check them at that one moment. At one simulated day per second the default
# (a minute) would evaluate them again 60 simulated days later whenever the
# machine is slow enough for the run to last a minute, and rightly enroll the
# leads that went quiet meanwhile.
serve_env timeout 600 "$ctl" serve --db "$db" --smtp "$smtp_addr" --listen "$listen" --ui --exit-when-idle \
  --public-url "$base_url" --clock-start "$start" --clock-speed 86400 --enroll-interval 10m \
  2> "$data/serve.log"
# Where the accelerated clock stood when the daemon went idle: a kept daemon
# carries on from there.
sim_end=$(date -u -d "@$(( $(date -u -d "$start" +%s) + ($(date -u +%s) - real_start) * 86400 ))" +%Y-%m-%dT%H:%M:%SZ)

echo "==> report"
"$ctl" report --db "$db"
echo "==> status (every object's sync and health; per sequence step)"
"$ctl" status --db "$db"
seed=lost_leads_reactivation
sent=$(pq "$db" -At -c "SELECT count(*) FROM campaignctl.outbox WHERE campaign = '$seed' AND status = 'sent'")
want=$(pq "$db" -At -f testdata/crm/seed_filter.sql)
files=$(grep -l "^X-Campaignctl-Campaign: $seed" -r "$data/mail" --include '*.eml' | wc -l)
echo
echo "$seed: sent $sent messages; the hand-written SQL for the seed filter counts $want;"
echo "the capture server holds $files messages of that campaign ($(find "$data/mail" -name '*.eml' | wc -l) in all)"
echo "read them in $data/mail/ (daemon log: $data/serve.log)"
if [ "$sent" != "$want" ] || [ "$files" != "$want" ]; then
  echo "MISMATCH: campaignctl and the hand-written query disagree" >&2
  exit 1
fi
# The engagement campaign, checked the same way at the instant the daemon
# evaluated its segment.
eng=makeup_new_arrivals
at=$(pq "$db" -At -c "SELECT materialized_at FROM campaignctl.campaigns WHERE name = '$eng'")
eng_sent=$(pq "$db" -At -c "SELECT count(*) FROM campaignctl.outbox WHERE campaign = '$eng' AND status = 'sent'")
eng_want=$(pq "$db" -At -v now="$at" -f testdata/crm/makeup_filter.sql)
echo "$eng: sent $eng_sent messages; the hand-written SQL over the events at $at counts $eng_want"
if [ "$eng_sent" != "$eng_want" ] || [ "$eng_want" = 0 ]; then
  echo "MISMATCH: campaignctl and the hand-written engagement query disagree (or match nobody)" >&2
  exit 1
fi
# The restock nurture (a sequence with an A/B test on week 1): everyone in its
# audience enrolled once, every enrollment finished, and the steps it took.
seq=restock_nurture
enrolled=$(pq "$db" -At -c "SELECT count(*) FROM campaignctl.enrollments WHERE kind = 'sequence' AND object = '$seq'")
active=$(pq "$db" -At -c "SELECT count(*) FROM campaignctl.enrollments WHERE kind = 'sequence' AND object = '$seq' AND state = 'active'")
seq_want=$(pq "$db" -At -f testdata/crm/restock_filter.sql)
echo
echo "$seq: $enrolled contacts enrolled, $active still active; the hand-written SQL for its segment counts $seq_want"
pq "$db" -c "SELECT s.step, s.action, count(*) AS contacts, string_agg(DISTINCT nullif(s.variant, ''), ', ') AS variants
             FROM campaignctl.enrollment_steps s JOIN campaignctl.enrollments e ON e.id = s.enrollment_id
             WHERE e.object = '$seq' GROUP BY 1, 2 ORDER BY min(s.at), 1, 2"
pq "$db" -c "SELECT step, decision, winner, round(p_value::numeric, 4) AS p_value, reason FROM campaignctl.ab_decisions WHERE object = '$seq'"
who=$(pq "$db" -At -c "SELECT contact_key FROM campaignctl.enrollments WHERE object = '$seq' AND exit_reason = 'completed' ORDER BY id LIMIT 1")
echo "==> campaignctl explain lead:$who sequence/$seq (why this lead got what it got)"
"$ctl" explain --db "$db" "lead:$who" "sequence/$seq"
echo "==> campaignctl timeline lead:$who"
"$ctl" timeline --db "$db" "lead:$who" --limit 12
if [ "$enrolled" != "$seq_want" ] || [ "$active" != 0 ] || [ "$seq_want" = 0 ]; then
  echo "MISMATCH: the sequence's enrollments and the hand-written query disagree, or enrollments are left active" >&2
  exit 1
fi
# The workflows: per workflow and step what the enrollments did, and four of
# them checked against hand-written SQL over the same events and CRM.
echo
echo "==> workflows: what each step did"
pq "$db" -c "SELECT e.object AS workflow, s.step, s.action, count(*) AS contacts
             FROM campaignctl.enrollment_steps s JOIN campaignctl.enrollments e ON e.id = s.enrollment_id
             WHERE e.kind = 'workflow' AND s.action NOT IN ('waited')
             GROUP BY 1, 2, 3 ORDER BY 1, min(s.at), 2, 3"
quiet_at=$(pq "$db" -At -c "SELECT min(enrolled_at) FROM campaignctl.enrollments WHERE kind = 'workflow' AND object = 'quiet_leads'")
pq "$db" -At -F ' ' -v quiet_at="${quiet_at:-epoch}" -f testdata/crm/workflow_filters.sql > "$data/workflows.want"
pq "$db" -At -F ' ' -c "SELECT e.object, s.step, count(*) FROM campaignctl.enrollment_steps s
             JOIN campaignctl.enrollments e ON e.id = s.enrollment_id
             WHERE e.kind = 'workflow' AND s.action IN ('sent', 'notified', 'set')
               AND (e.object, s.step) IN (('nps_followup', 'ask_review'), ('nps_followup', 'apologize'), ('cart_rescue', 'reminder'),
                                          ('pricing_page_alert', 'notify'), ('quiet_leads', 'still_interested'), ('quiet_leads', 'archive'))
             GROUP BY 1, 2 ORDER BY 1, 2" > "$data/workflows.got"
echo "workflow step: contacts taken through it by campaignctl | by the hand-written SQL (testdata/crm/workflow_filters.sql)"
join -j 1 <(awk '{print $1"/"$2, $3}' "$data/workflows.got") <(awk '{print $1"/"$2, $3}' "$data/workflows.want") -a 2 -e 0 -o 0,1.2,2.2 | sed 's/^/    /'
if ! diff -q "$data/workflows.got" "$data/workflows.want" >/dev/null || grep -q ' 0$' "$data/workflows.want"; then
  echo "MISMATCH: the workflows and the hand-written queries disagree (or match nobody)" >&2
  exit 1
fi
active_wf=$(pq "$db" -At -c "SELECT count(*) FROM campaignctl.enrollments WHERE kind = 'workflow' AND state = 'active'")
if [ "$active_wf" != 0 ]; then
  echo "MISMATCH: $active_wf workflow enrollments are left active after the daemon went idle" >&2
  exit 1
fi
# How the nurture did: Odoo's smart buttons per step and A/B variant, the
# test's verdict with its intervals, and the funnel (docs/report.md).
echo
echo "==> campaignctl report $seq"
"$ctl" report --db "$db" "$seq"

echo
echo "==> where to look"
echo "    status page:  $base_url/ui/  (sign in with the token in $token_file)"
echo "    metrics:      $base_url/metrics"
echo "    from a shell: curl -H \"Authorization: Bearer \$(cat $token_file)\" $base_url/ui/"
if [ "${CAMPAIGNCTL_DEMO_KEEP:-}" != 1 ]; then
  echo "    the daemon served them while it sent and has stopped; run make demo KEEP=1"
  echo "    (or CAMPAIGNCTL_DEMO_KEEP=1 bash scripts/demo.sh) to keep it running and open them"
  exit 0
fi
echo "==> keeping the daemon running (CAMPAIGNCTL_DEMO_KEEP=1) from the demo's clock $sim_end at real speed"
echo "    open $base_url/ui/ now; Ctrl-C stops the daemon, the SMTP capture server and Postgres"
serve_env "$ctl" serve --db "$db" --smtp "$smtp_addr" --listen "$listen" --ui \
  --public-url "$base_url" --clock-start "$sim_end" --clock-speed 1 \
  2>> "$data/serve.log" || true
