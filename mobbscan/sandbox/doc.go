// Package sandbox is a faithful HTTP simulator of the Mobbscan API Gateway
// (see mobbscan-contract.md): token authentication, onboarding processes and
// their lifecycle, agent decisions, synthetic evidence (ID documents with
// valid MRZs, drawn faces, a playable liveness video, ZIP), webhooks with
// retries and HMAC signatures, an end-user onboarding page, and a control API
// to seed processes and inject faults. It serves development (the portal
// embeds it), demos and tests, and imports no other package of the portal.
//
// # Gateway API
//
// Exactly the contract's endpoints; every one but POST /auth/token needs
// "Authorization: Bearer <accessToken>" (an HS256 JWT with exp, signed with a
// per-instance key). Errors are {"code": <status>, "description": "…"}; a 409
// also carries the process's "status" and "stage".
//
// # End-user pages
//
//	GET  /onboarding/{token}   the page behind onboardingUrl; CREATED → IN_PROGRESS
//	POST /onboarding/{token}   form: outcome=clean|failed, failed=<validation>…;
//	                           → PENDING/REVIEW, then 303 to redirectUrl if any
//
// # Control API (Config.Control only; no token needed)
//
// Every POST must carry Content-Type: application/json, even without a body (415
// otherwise), so that no web page on another origin can drive it with a form or a
// text/plain post.
//
//	GET    /_sandbox/                          HTML list of processes with onboarding links
//	POST   /_sandbox/seed                      SeedSpec → {"ids": [...]}
//	GET    /_sandbox/processes                 {"processes": [ProcessSnapshot...]}
//	GET    /_sandbox/processes/{id}            ProcessSnapshot
//	POST   /_sandbox/processes/{id}/complete   {"outcome": "clean"|"random"} or {"failed": [...]} → ProcessSnapshot
//	POST   /_sandbox/processes/{id}/expire     → ProcessSnapshot
//	POST   /_sandbox/processes/{id}/replay     → {"queued": n} (every status it went through)
//	GET    /_sandbox/faults                    {"faults": [fault...]}
//	POST   /_sandbox/faults                    fault → {"faults": [...]}
//	DELETE /_sandbox/faults                    clear all → {"faults": []}
//	DELETE /_sandbox/faults/{route}            clear one → {"faults": [...]}
//	POST   /_sandbox/token-lifetime            {"lifetime": "2s"}
//	POST   /_sandbox/video                     {"bytes": 209715200} (0: the plain clip)
//	POST   /_sandbox/webhooks                  {"url": "http://…"} → 204
//	GET    /_sandbox/stats                     Stats
//	POST   /_sandbox/reset                     → 204
//
// A fault is {"route": "accept", "kind": "latency"|"401"|"429"|"500"|"503"|
// "malformed"|"truncate"|"reset", "latency": "750ms", "retryAfterSeconds": 3,
// "count": 2, "notApplied": false}; without count it stays until cleared.
// The same operations are Go methods (Seed, Complete, Get, SetFault, …) for
// tests in other packages.
//
// # Evidence
//
// Images are drawn in Go from the process (deterministic per id) and cached.
// The video is assets/liveness.webm, made by assets/make-video.sh with
// Debian's ffmpeg (run the script to regenerate it).
package sandbox
