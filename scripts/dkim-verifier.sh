#!/usr/bin/env bash
# An independent check of the mail campaignctl sends: Debian's dkimpy (python3-dkim)
# verifies each message's DKIM signature, and Python's email package parses it with
# email.policy.strict (a defect in any header or part is an error).
#
#   scripts/dkim-verifier.sh install          install python3-dkim if it is missing
#   scripts/dkim-verifier.sh verify DIR       verify every DIR/*.eml; the TXT record of
#                                             the key is in DIR/dns.txt (served to dkimpy
#                                             by a custom DNS function: no network)
#
# Exit codes: 0 every message verified and parsed cleanly; 1 a message failed;
# 3 python3-dkim is not installed and cannot be (the caller skips the check).
set -euo pipefail

# Debian's python3-dkim installs for the system interpreter, not for a pyenv or
# virtualenv python3 that may come first on PATH.
py=/usr/bin/python3

have_dkim() { [ -x "$py" ] && "$py" -c 'import dkim' >/dev/null 2>&1; }

install() {
  have_dkim && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "dkim-verifier: python3-dkim is missing and this machine cannot apt-get install it (not root, or no apt-get)" >&2
    return 3
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq python3-dkim; } >/tmp/dkim-verifier-apt.log 2>&1; then
    echo "dkim-verifier: apt-get install python3-dkim failed (log: /tmp/dkim-verifier-apt.log)" >&2
    return 3
  fi
  have_dkim || { echo "dkim-verifier: python3-dkim installed but $py cannot import dkim" >&2; return 3; }
}

case "${1:-}" in
install)
  install
  ;;
verify)
  dir=${2:?usage: dkim-verifier.sh verify DIR}
  install || exit 3
  "$py" - "$dir" <<'PY'
import glob, os, sys
import email, email.policy
import dkim

d = sys.argv[1]
record = open(os.path.join(d, "dns.txt"), "rb").read().strip()

def dnsfunc(name, timeout=5):
    # Only DKIM key records exist; any other name is NXDOMAIN.
    return record if b"._domainkey." in name else None

failed = 0
files = sorted(glob.glob(os.path.join(d, "*.eml")))
if not files:
    print("dkim-verifier: no .eml files in", d, file=sys.stderr)
    sys.exit(1)
for f in files:
    raw = open(f, "rb").read()
    problems = []
    try:
        if not dkim.verify(raw, dnsfunc=dnsfunc):
            problems.append("DKIM signature does not verify")
    except Exception as e:
        problems.append("DKIM: %s" % e)
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.strict)
        for part in msg.walk():
            problems += ["part defect: %r" % x for x in part.defects]
            for k, v in part.items():
                problems += ["header %s: %r" % (k, x) for x in getattr(v, "defects", ())]
            if not part.is_multipart():
                part.get_content()
    except Exception as e:
        problems.append("email.policy.strict: %s" % e)
    if problems:
        failed += 1
        print("FAIL %s: %s" % (os.path.basename(f), "; ".join(problems)))
    else:
        print("ok   %s" % os.path.basename(f))
print("dkim-verifier: %d verified, %d failed" % (len(files) - failed, failed))
sys.exit(1 if failed else 0)
PY
  ;;
*)
  echo "usage: dkim-verifier.sh install | verify DIR" >&2
  exit 2
  ;;
esac
