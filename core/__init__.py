"""The ground floor: infrastructure every app uses and nothing of theirs — the one door to
stored files (`storage`), the SSRF-safe URL fetcher (`urlfetch`), settings readers (`env`),
thread counts per process role (`threads`), file responses (`http`), safe redirects
(`redirects`) and checked text (`text`). It imports no app and no site shell."""
