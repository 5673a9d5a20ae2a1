//! Times as Kubernetes writes them (`metav1.Time`, RFC 3339 at second precision) and as kubectl
//! shows them (`AGE`: `45s`, `3m20s`, `5h`, `2d3h`).

/// Parses an RFC 3339 time (`2024-01-02T03:04:05Z`, with optional fraction and offset) into
/// milliseconds since the Unix epoch.
pub fn parse_rfc3339_millis(s: &str) -> Option<i64> {
    s.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// Formats milliseconds since the Unix epoch the way Kubernetes writes times
/// (`2024-01-02T03:04:05Z`, second precision).
pub fn format_rfc3339(millis: i64) -> String {
    match jiff::Timestamp::from_millisecond(millis.div_euclid(1000) * 1000) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => String::new(),
    }
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A duration as kubectl writes ages (Go's `duration.HumanDuration`): `45s`, `3m20s`, `5h`,
/// `2d3h`, `400d`, `3y20d`; `0s` for a second in the future (clock skew), `<invalid>` beyond.
pub fn human_duration(millis: i64) -> String {
    let seconds = millis / 1000;
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1000;
    const M: i64 = 60 * S;
    const H: i64 = 60 * M;
    const D: i64 = 24 * H;

    #[test]
    fn durations_read_like_kubectl() {
        for (millis, text) in [
            (-5 * S, "<invalid>"),
            (-1500, "0s"),
            (0, "0s"),
            (59 * S, "59s"),
            (119 * S, "119s"),
            (2 * M, "2m"),
            (3 * M + 5 * S, "3m5s"),
            (3 * M + 20 * S, "3m20s"),
            (10 * M + 5 * S, "10m"),
            (179 * M, "179m"),
            (3 * H, "3h"),
            (5 * H + 30 * M, "5h30m"),
            (8 * H + 30 * M, "8h"),
            (47 * H, "47h"),
            (2 * D, "2d"),
            (3 * D, "3d"),
            (3 * D + 4 * H, "3d4h"),
            (8 * D, "8d"),
            (729 * D, "729d"),
            (730 * D, "2y"),
            (800 * D, "2y70d"),
            (3000 * D, "8y"),
        ] {
            assert_eq!(human_duration(millis), text, "{millis}");
        }
    }

    #[test]
    fn times_round_trip_at_second_precision() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_704_164_645_123), "2024-01-02T03:04:05Z");
        assert_eq!(parse_rfc3339_millis("1970-01-01T00:01:00Z"), Some(60_000));
        assert_eq!(
            parse_rfc3339_millis("2024-01-02T03:04:05.5+01:00"),
            Some(1_704_161_045_500)
        );
        assert_eq!(parse_rfc3339_millis("yesterday"), None);
    }
}
