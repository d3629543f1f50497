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
// # Encryption
//
// Values are encrypted before they leave the instance, under a key that
// only the session's cookie unlocks: each session gets a random value key
// at its creation, stored wrapped (AES-256-GCM) under a key derived
// (HKDF-SHA-256) from its token, which the store never sees. Each value is
// sealed with AES-256-GCM under the value key, its name as associated
// data. Neither the store's data nor the Manager's Config, signing keys
// included, is enough to read a value: the cookie is needed. A renewal
// wraps the same value key under the new token inside the renewal's atomic
// write; values are never encrypted again and never pass through the store
// in clear.
//
// Each value is bound to its field by its associated data, and to its
// session by the session's own value key. A value moved to another field
// or another session reads as missing; a session whose wrapped key does
// not open with its cookie (replaced, or the whole session copied under
// another key) reads as missing, a new session. Both are logged at WARN,
// at most once per 10 seconds, and reported as [EventUnreadable].
//
// What stays readable to the store, because it is needed without a
// cookie: the value names, the user, the user agent, the times and the
// sizes. Encryption keeps values secret; it does not stop someone who can
// write to the store from deleting a session, changing its user, or
// putting back an older value of the same field of the same session.
//
// Costs: each value takes 28 bytes more in the store, counted by
// Config.MaxSize; a load opens each value (AES-GCM), and unwraps the
// session's key (an HMAC and two AES-GCM key set-ups) unless the instance
// used the session lately: a Manager keeps the value keys of the last
// 2,048 to 4,096 sessions it saw opened, about 4 MB. [Session.Incr] and
// [Session.CompareAndSwap] become compare-and-swaps on the ciphertext.
// Config.DisableEncryption turns it off for new sessions.
//
// A store that cannot answer is an error, [ErrStoreUnavailable], which the
// middleware turns into a 503 with Retry-After; it never passes for an
// anonymous session.
package session
