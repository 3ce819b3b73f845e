// Package dashboard serves kassa's merchant dashboard under /dashboard:
// the first-run setup (owner account, then the first store with a live
// preview of its receiving addresses), sign-in with argon2id passwords,
// TOTP second factor and recovery codes, sessions and CSRF tokens, stores
// and their settings, the point-of-sale page, API tokens and pairing
// codes (seeds 000 and 001, spec §2.3), legacy API keys, store members
// with roles and one-time invites, self sign-up (seed 002; its merchant
// applications, POST /applications, are package api's), and money out:
// the store's coins and balance, its spends, each spend's PSBT to
// download and the signed PSBT or transaction to upload (spends.go).
//
// # Pages and security
//
// Pages are html/template (every merchant- or client-set text is
// escaped), parsed once from embedded files; styles and the one small
// script are inline under a per-request Content-Security-Policy nonce, as
// in package web, and every form works without JavaScript. Every POST
// carries a CSRF token: the session's (a random value stored with it),
// or before sign-in a double-submit cookie; both are compared in
// constant time, and http.CrossOriginProtection refuses cross-origin
// POSTs besides.
//
// A session cookie holds 32 random bytes; the database keeps only their
// SHA-256, so a copy of it signs no one in. Each sign-in makes a new
// session (no fixation): a session waiting for its second factor has its
// own id, replaced once the code is accepted. Sessions end after
// Config.IdleTimeout without use and Config.MaxAge in any case; the
// cookie is HttpOnly, SameSite=Lax, and Secure when kassa is reached
// over https.
//
// Failed sign-ins are throttled per account and per client address,
// exponentially (throttle.go); a TOTP code is accepted once (the last
// used 30-second step is stored), and recovery codes are stored hashed.
//
// # Roles
//
// A user has a role per store (account.Role): owner, manager or employee.
// Employees see the overview, the invoices, the point of sale, the coins
// and the spends; managers also API tokens, pairing and settings, and
// they download spends' PSBTs and upload them signed; owners also members
// and the receiving key. Every handler checks the role on the server: a URL
// typed by hand answers 403. Admin accounts (the operator's, made by the setup or
// `kassa user create --owner`) are owners of every store.
//
// # Money out
//
// kassa holds no keys: a spend (a refund's payment) is a PSBT the
// merchant's wallet signs. Its page offers the PSBT as a file
// (spend-ID.psbt, BIP174 binary) and in base64, and takes the signed PSBT
// or raw transaction back as a file or pasted text, bounded by
// wallet.MaxUploadBytes (the one form allowed a body above 64 KiB). The
// spend engine (Config.Spends) checks the upload pays exactly what was
// approved before it records and sends it; a refused upload shows the
// check's reason and changes nothing. A PSBT whose coins were spent
// elsewhere is rebuilt when its page is opened or its upload comes back,
// and the page says so.
//
// # Pages of other packages
//
// Handle mounts a Page (a store page of another package, such as the
// invoice list) behind the same checks; Layout renders its body inside
// the dashboard's chrome. See Page and Viewer.
package dashboard
