// Rendered by `pusher rollups render` from the config; edit the config, not this file.
import "date"
import "timezone"

option location = timezone.location(name: "Europe/Paris")
option task = {name: "pusher_rollup_events", every: 1h, offset: 5m}

// Local midnight 2 day(s) back: no day is ever aggregated from part of it.
hourly = from(bucket: "pusher")
    |> range(start: date.truncate(t: -2d, unit: 1d, location: location))
    |> filter(fn: (r) => r._measurement == "events" and r.granularity == "hourly")

hourly
    |> filter(fn: (r) => r._field == "count")
    |> aggregateWindow(every: 1d, fn: sum, timeSrc: "_start", createEmpty: false, location: location)
    |> set(key: "granularity", value: "daily")
    |> to(bucket: "pusher_daily")
