// Package session keeps server-side sessions for HTTP servers that run as
// several instances behind a plain round-robin load balancer: every request
// of a user may land on another instance, so the session lives in a shared
// [Store] and every instance sees the same one at once.
//
// A [Manager] (from [New]) gives each request a [Session] through its
// middleware [Manager.Handler]. The session is loaded on first use, at most
// once per request, and its changes are saved as a delta of the keys that
// changed, before the response headers are written. A cookie that fails its
// signature check costs no store call.
//
// Security follows OWASP ASVS V3: tokens of 256 random bits; a cookie that
// carries the token and an HMAC-SHA-256 signature, with key rotation; only a
// hash of the token in the store; idle and absolute timeouts enforced on the
// server; a new token at login ([Session.Login]) and at every change of
// privilege ([Session.Renew]); logout on the server ([Session.Destroy]); a
// user's list of their sessions ([Session.Sessions], [Admin.Revoke]), "log
// out my other sessions" ([Admin.RevokeOthers]), "log out everywhere"
// ([Admin.RevokeAll]), also from a tool with a store alone ([NewAdmin]),
// and a cap on the sessions of one
// user (Config.MaxSessionsPerUser); re-authentication for sensitive actions
// ([Manager.RequireRecentLogin]).
//
// Limits hold against a hostile client on any number of instances: the
// size and the number of fields of a session (Config.MaxSize, MaxFields)
// are checked by the store inside its atomic write, not only against what
// one request loaded. Nothing is stored for a visitor whose session holds
// no value and no user, so anonymous requests cost no store space: an
// application that must not store anything for anonymous clients writes
// only after [Session.Login], or behind [Manager.RequireLogin] /
// [Manager.RequireLoginAPI].
//
// Stores implement a small contract, [Store] (Load, Save, Destroy), plus
// optional interfaces found by type assertion: [Counter] for
// [Session.Incr] and [Session.CompareAndSwap], [UserIndex] for the user's
// session list, and [Checker] for [Session.Done]. The rules above (when to
// renew, whom to bind, how many sessions a user keeps, which errors mean
// 503) live here, once, above every store; the package sessiontest checks
// a store against the contract.
//
// A store that cannot answer is an error, [ErrStoreUnavailable], which the
// middleware turns into a 503 with Retry-After; it never passes for an
// anonymous session.
package session
