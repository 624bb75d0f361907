// Package gitsrc reads a directory as it is at a git ref, straight from the
// repository's objects, into an in-memory fs.FS that the compiler can read like
// the working tree. It is what `campaignctl diff --base REF` compiles the old
// side from.
//
// It runs `git ls-tree` and `git cat-file --batch`, which only read objects: the
// working tree, the index and HEAD are never touched, so it is safe while a
// developer has uncommitted changes, and it works in a shallow CI checkout as
// soon as the ref's commit has been fetched (`git fetch origin main --depth=1`).
// A ref that cannot be resolved is an error that says how to fetch it; a
// directory that did not exist at the ref is an empty tree, not an error.
//
// This package does not compile anything and does not fetch: it never touches
// the network.
package gitsrc
