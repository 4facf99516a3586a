"""Prints what landed in the demo's InfluxDB: points per measurement and granularity."""

import sys

import requests


def main(url: str, database: str) -> None:
    def query(q: str) -> list[dict]:
        answer = requests.get(f"{url}/query", params={"q": q, "db": database}, timeout=10)
        answer.raise_for_status()
        return answer.json()["results"][0].get("series", [])

    measurements = [row[0] for s in query("SHOW MEASUREMENTS") for row in s["values"]]
    policies = [row[0] for s in query(f'SHOW RETENTION POLICIES ON "{database}"')
                for row in s["values"]]
    print(f"\nWhat landed in InfluxDB ({url}, database {database!r}):")
    print(f"  {'retention policy':<18}{'measurement':<18}{'granularity':<13}{'points':>8}  latest")
    for policy in policies:
        for measurement in measurements:
            for series in query(f'SELECT count(*) FROM "{policy}"."{measurement}" '
                                "GROUP BY granularity"):
                counts = [v for v in series["values"][0][1:] if v is not None]
                latest = query(f'SELECT * FROM "{policy}"."{measurement}" '
                               f"WHERE granularity='{series['tags']['granularity']}' "
                               "ORDER BY time DESC LIMIT 1")
                when = latest[0]["values"][0][0] if latest else "-"
                print(f"  {policy:<18}{measurement:<18}{series['tags']['granularity']:<13}"
                      f"{max(counts, default=0):>8}  {when}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "pusher")
