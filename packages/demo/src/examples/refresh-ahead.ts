// docs/refresh-ahead.md: refresh ahead and stale-if-error.
import * as Renewer from "@effect-renewal/core/Renewer"

export const RenewerLive = Renewer.layer({
  // renew in the background 5 minutes before expiry (up to 1 minute earlier, at random)
  refreshAhead: { lead: "5 minutes", jitter: "1 minute" },
  // if that renewal fails transiently, callers may still get the old token for 2 minutes
  staleIfError: "2 minutes"
})
