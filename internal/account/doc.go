// Package account holds the dashboard's people: users, their sessions,
// invites and store memberships, with their roles.
//
// It holds the types and the rules about them that need no database: the
// roles and their order, the kinds of account, the stages of a session
// and when it has expired, when an invite can still be used, the normal
// form of an email address, password checking and hashing (argon2id),
// and how long a throttled attempt (a sign-in, a sign-up) must wait.
// Package store persists these records; package dashboard signs people in
// and serves the pages that change them.
package account
