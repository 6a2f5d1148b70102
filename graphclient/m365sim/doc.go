// Package m365sim is a strict simulated Microsoft 365 tenant for tests and the
// demo: Entra ID login (openid-configuration, client-credentials token
// endpoint with certificate client assertions) and Microsoft Graph v1.0
// (users, users delta, groups and transitive members, photos, $batch; and, in
// the mailbox_*.go and subscriptions_*.go files, contacts and contact delta,
// calendarView, getSchedule, sendMail and change-notification subscriptions)
// on one HTTPS (HTTP/2) server on loopback, with its own CA. It speaks the real wire
// protocols, so graphclient is tested through the real msgraph-sdk-go and
// azidentity; it does not import them.
//
// Strict means it refuses what Graph refuses: unknown certificates and bad
// assertions get Entra's AADSTS errors, missing app roles get Graph's 403
// shapes, $top above 999, unknown $select properties, unsupported $filter
// forms, expired delta tokens (410), oversized $batch and so on.
//
// # Internal structure (for the files of this package)
//
//   - sim.go: Sim, Options, lifecycle, the sim clock (Now/SetNow/Advance), the
//     tenant lock helpers and the change hook. ServeHTTP splits requests into
//     login (auth.go), Graph (graph.go) and control (controlapi.go).
//   - model.go: the tenant model. User, Group, Photo, Mailbox (ContactFolder,
//     Contact, Event with Recurrence and Occurrences), Change. The unexported
//     tenant holds users sorted by id (soft-deleted ones included, see
//     User.SoftDeleted), groups, photos, lazily generated mailboxes
//     (tenant.mailbox(userID), safe under the read lock), the change log, and
//     the flattened group membership cached per change (tenant.flatten).
//   - generate.go: the deterministic generator (seed, size).
//   - graph.go: the Graph pipeline (request log, latency, gzip request bodies,
//     bearer token check, injected faults, routing) and graphRoute.
//   - query.go: $select/$filter/$top/$search/$count parsing, sealed
//     $skiptoken/$deltatoken tokens, absolute nextLinks.
//   - users.go, groups.go, photos.go, delta.go, batch.go: the core routes.
//   - faults.go, reqlog.go: fault injection and the request log.
//   - control.go, controlapi.go: the Go and HTTP control APIs (users,
//     groups, photos, consent, certificates, faults, clock, logs);
//     mailstore.go: mailbox data control (AddEvent, UpdateEvent, MoveEvent,
//     CancelEvent, DeleteEvent, AddContactFolder, AddChildContactFolder,
//     DeleteContactFolder, AddContact, UpdateContact,
//     DeleteContact, Mailbox snapshots), each recording its change.
//
// Extending (mailbox_*.go, subscriptions_*.go): add routes from an init
// function with registerExtension(func(s *Sim) { s.graphRoute("GET /users/{id}/contacts",
// access{roles: []string{"Contacts.Read"}, mailbox: true}, handler) }). Patterns
// are http.ServeMux patterns relative to /v1.0; r.PathValue works. A handler runs
// after authentication, fault injection and the role check, and is reached from
// $batch too (requestInfoFrom(r).inBatch). Answer errors with s.graphError (Graph's
// error JSON with innerError) and successes with writeOData. Read the tenant with
// s.read(func(t *tenant){...}) and change it with
// s.write(func(t *tenant, rec changeRecorder) error {...; rec(Change{Resource: ..., Type: ChangeUpdated}); ...}):
// every rec appends to the change log (t.log, sequence t.seq; t.changesSince for
// delta rounds) and, after the lock is released, reaches the hooks registered with
// s.OnChange, in order. Resources are Graph paths without the version:
// "users/{id}" (users delta reads these), "users/{id}/photo", "groups/{id}",
// "users/{id}/contacts/{cid}" (default folder), "users/{id}/contactFolders/{fid}/contacts/{cid}",
// "users/{id}/events/{eid}". Background work (notification delivery) runs with
// s.goBackground, which Close waits for; per-Sim state of an extension lives in
// s.extension(key, init); s.Now() is the sim clock. Sealed opaque
// tokens: s.sealToken(v) / s.openToken(tok, &v).
package m365sim
