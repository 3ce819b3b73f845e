// Package dashboard serves kassa's merchant dashboard under /dashboard:
// the first-run setup (owner account, then the first store with a live
// preview of its receiving addresses), sign-in with argon2id passwords,
// TOTP second factor and recovery codes, sessions and CSRF tokens, stores
// and their settings, the point-of-sale page, API tokens and pairing
// codes (seeds 000 and 001, spec §2.3), legacy API keys, store members
// with roles and one-time invites, self sign-up (seed 002; its merchant
// applications, POST /applications, are package api's), and money out:
// the store's refunds (refunds.go) and the form that creates one from an
// invoice's page (refundform.go), the store's coins and balance, its
// spends, each spend's PSBT to download and the signed PSBT or
// transaction to upload (spends.go), fee bumps and the hot signer's
// button (spendactions.go).
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
// Employees see the overview, the invoices, the point of sale, the
// refunds, the coins and the spends; managers also API tokens, pairing
// and settings, and they create, confirm and cancel refunds, download
// spends' PSBTs, upload them signed and bump their fees; owners also
// members and the receiving key, and they alone sign with the store's
// hot key, each time with a current TOTP code. Every handler checks the role on the server: a URL
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
// Refunds go through the refund service (Config.Refunds), as the API's
// do: the invoice page's form asks for an amount in the invoice's
// currency or BTC, an optional address (without one the refund waits for
// the buyer's), who pays the network fee and, by default, a preview that
// is confirmed on the refund's page. Each rendering of the form carries a
// new guid, so a form sent twice makes one refund; a refusal (too much,
// an invoice still open, a bad address or the store's own) shows in plain
// words and records nothing. A refund confirmed with an address has its
// spend made at once, so its page links it.
//
// A sent, unconfirmed spend's fee is raised by a replacement (RBF) at
// the rate the merchant asks for, whose PSBT then waits on the page like
// an unsigned spend's. A store with a hot key (kassa store hot-signer)
// shows its owners "Sign and send with the hot signer" on an unsigned
// refund spend: a current TOTP code of the owner (accepted once, wrong
// ones throttled as at sign-in; an owner without a second factor is told
// to turn it on) lets the engine sign it with the hot key within the
// store's daily limit and send it (spender.Engine.SignHot).
//
// # Pages of other packages
//
// Handle mounts a Page (a store page of another package, such as the
// invoice list) behind the same checks; Layout renders its body inside
// the dashboard's chrome. See Page and Viewer.
package dashboard
