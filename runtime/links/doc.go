// Package links signs and verifies the tokens carried by links in sent mail:
// the unsubscribe link (/u/), the open pixel (/o/) and every rewritten link of
// the HTML body (/c/).
//
// # Token format
//
//	<key id>.<payload>.<mac>          (version 1; three parts)
//	<payload>.<mac>                   (legacy, before key ids; two parts)
//
// Each part is base64url without padding, except the key id, which is 8 hex
// digits derived from the secret (KeyID). The version-1 payload is a version
// byte, a purpose byte and length-prefixed fields (see Claims); the mac is the
// first 16 bytes of HMAC-SHA256 under the key the key id names, over a domain
// string, the key id and the payload. So:
//
//   - A token says what it is for (Purpose) inside the signed payload, and
//     Verify is told which purpose the caller serves: a click token can never
//     unsubscribe, and an unsubscribe token never records a click.
//   - A click token carries its destination URL in the signed payload: the
//     redirect goes only to a URL that was in the message (no open redirect).
//   - Keys rotate: a Signer signs with its current key and verifies with the
//     current key and any older key it was given, found by key id. Removing a
//     key retires it: its tokens then fail like forged ones.
//
// Legacy tokens (HMAC over campaign, step and email, no key id, no purpose)
// were issued for unsubscribe links before version 1; they verify as
// PurposeUnsubscribe only, under the current key or any older key, so links
// already in inboxes keep working across rotations until their key is retired.
//
// The package does not store anything, does not serve HTTP and does not read
// the environment itself: FromSecrets takes the secrets, the caller says where
// they come from (campaignctl serve: CAMPAIGNCTL_SECRET and
// CAMPAIGNCTL_SECRET_OLD).
package links
