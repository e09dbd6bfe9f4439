//! Human descriptions of schedules, e.g. "at 09:30, on Monday through Friday".

use crate::cron::CronSpec;
use crate::days::DayRule;
use crate::schedule::{Kind, RateUnit, Schedule};

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAY_NAMES: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

impl Schedule {
    /// A one-line English description, e.g. `at 09:30, on Monday through Friday`. Times are in
    /// the schedule's time zone, which the caller names if it matters.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Cron(spec) => describe_cron(spec),
            Kind::Rate { count, unit, .. } => {
                let unit = match unit {
                    RateUnit::Minute => "minute",
                    RateUnit::Hour => "hour",
                    RateUnit::Day => "day",
                };
                if *count == 1 {
                    format!("every {unit}")
                } else {
                    format!("every {count} {unit}s")
                }
            }
            Kind::At(at) => format!("once, at {}", at.format("%Y-%m-%d %H:%M:%S")),
        }
    }
}

fn values(bits: u64, lo: u32, hi: u32) -> Vec<u32> {
    (lo..=hi).filter(|v| bits & (1 << v) != 0).collect()
}

/// `a`, `a and b`, `a, b and c`.
fn join(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// A value set in words: `None` when it is everything, `every 15 minutes`, `9 through 17`, …
enum SetWords {
    All,
    Every(String),
    Values(String),
}

fn set_words(vals: &[u32], lo: u32, hi: u32, unit: &str, name: impl Fn(u32) -> String) -> SetWords {
    if vals.len() as u32 == hi - lo + 1 {
        return SetWords::All;
    }
    if vals.len() >= 2 {
        let step = vals[1] - vals[0];
        let progression = (vals[0]..=hi).step_by(step as usize).collect::<Vec<_>>() == vals;
        if step > 1 && progression && vals[0] < lo + step {
            let start = if vals[0] == lo {
                String::new()
            } else {
                format!(" from {unit} {}", name(vals[0]))
            };
            return SetWords::Every(format!("every {step} {unit}s{start}"));
        }
        if step == 1 && vals.len() >= 3 && progression_to(vals) {
            return SetWords::Values(format!(
                "{} through {}",
                name(vals[0]),
                name(vals[vals.len() - 1])
            ));
        }
    }
    SetWords::Values(join(&vals.iter().map(|v| name(*v)).collect::<Vec<_>>()))
}

fn progression_to(vals: &[u32]) -> bool {
    vals.windows(2).all(|w| w[1] == w[0] + 1)
}

fn describe_cron(spec: &CronSpec) -> String {
    let mut parts = Vec::new();
    let secs = values(spec.seconds, 0, 59);
    let mins = values(spec.minutes, 0, 59);
    let hours = values(spec.hours, 0, 23);
    let num = |v: u32| v.to_string();

    if mins.len() == 1 && hours.len() == 1 && secs.len() == 1 {
        let time = if secs[0] == 0 {
            format!("{:02}:{:02}", hours[0], mins[0])
        } else {
            format!("{:02}:{:02}:{:02}", hours[0], mins[0], secs[0])
        };
        parts.push(format!("at {time}"));
    } else {
        let sec_words = set_words(&secs, 0, 59, "second", num);
        let min_words = set_words(&mins, 0, 59, "minute", num);
        match (&sec_words, &min_words) {
            (SetWords::All, _) => parts.push("every second".into()),
            (SetWords::Every(w), _) => parts.push(w.clone()),
            (SetWords::Values(_), _) if secs == [0] => {}
            (SetWords::Values(w), _) => parts.push(format!("at second {w}")),
        }
        match min_words {
            SetWords::All if secs == [0] => parts.push("every minute".into()),
            SetWords::All => {}
            SetWords::Every(w) => parts.push(w),
            SetWords::Values(w) if secs == [0] && hours.len() == 24 => {
                parts.push(format!("at minute {w} past every hour"))
            }
            SetWords::Values(w) => parts.push(format!("at minute {w}")),
        }
        match set_words(&hours, 0, 23, "hour", num) {
            SetWords::All => {}
            SetWords::Every(w) => parts.push(w),
            SetWords::Values(w) => parts.push(format!("during hour {w}")),
        }
    }

    let dom = dom_words(spec);
    let dow = dow_words(spec);
    match spec.days.rule {
        DayRule::Any => {}
        DayRule::DomOnly => parts.push(dom),
        DayRule::DowOnly => parts.push(dow),
        DayRule::Either => parts.push(format!("{dom} or {dow}")),
        // Vixie `*` beside a restricted field: only the restricted one says anything.
        DayRule::Both if dom == "on every day" => parts.push(dow),
        DayRule::Both if dow == "on every day of the week" => parts.push(dom),
        DayRule::Both => parts.push(format!("{dom} if it is {}", dow.trim_start_matches("on "))),
    }

    let months = values(spec.months, 1, 12);
    let month_name = |m: u32| MONTH_NAMES[m as usize - 1].to_string();
    match set_words(&months, 1, 12, "month", month_name) {
        SetWords::All => {}
        SetWords::Every(w) => parts.push(w),
        SetWords::Values(w) => parts.push(format!("in {w}")),
    }
    if let Some(years) = &spec.years {
        let years: Vec<u32> = years.iter().map(|y| y as u32).collect();
        if let SetWords::Values(w) | SetWords::Every(w) = set_words(&years, 1970, 2199, "year", num)
        {
            parts.push(format!("in {w}"));
        }
    }
    parts.join(", ")
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn dom_words(spec: &CronSpec) -> String {
    let dom = &spec.days.dom;
    let mut items = Vec::new();
    let days = values(dom.days, 1, 31);
    if !days.is_empty() {
        match set_words(&days, 1, 31, "day", ordinal) {
            SetWords::All => items.push("every day".to_string()),
            SetWords::Every(w) => items.push(w),
            SetWords::Values(w) => items.push(format!("the {w}")),
        }
    }
    for k in values(dom.from_last, 0, 30) {
        items.push(match k {
            0 => "the last day of the month".to_string(),
            1 => "the day before the last day of the month".to_string(),
            k => format!("{k} days before the last day of the month"),
        });
    }
    if dom.last_weekday {
        items.push("the last weekday of the month".into());
    }
    for n in values(dom.nearest_weekday, 1, 31) {
        items.push(format!("the weekday nearest the {}", ordinal(n)));
    }
    format!("on {}", join(&items))
}

fn dow_words(spec: &CronSpec) -> String {
    let dow = &spec.days.dow;
    let mut items = Vec::new();
    let days = values(u64::from(dow.days), 0, 6);
    if !days.is_empty() {
        let name = |d: u32| WEEKDAY_NAMES[d as usize].to_string();
        match set_words(&days, 0, 6, "day", name) {
            SetWords::All => items.push("every day of the week".to_string()),
            SetWords::Every(w) | SetWords::Values(w) => items.push(w),
        }
    }
    for (wd, nth) in dow.nth.iter().enumerate() {
        for k in values(u64::from(*nth), 0, 4) {
            items.push(format!(
                "the {} {} of the month",
                ordinal(k + 1),
                WEEKDAY_NAMES[wd]
            ));
        }
    }
    for wd in values(u64::from(dow.last), 0, 6) {
        items.push(format!(
            "the last {} of the month",
            WEEKDAY_NAMES[wd as usize]
        ));
    }
    format!("on {}", join(&items))
}

#[cfg(test)]
mod tests {
    use crate::Schedule;

    fn describe(expr: &str) -> String {
        Schedule::parse(expr, "job").unwrap().describe()
    }

    #[test]
    fn descriptions() {
        assert_eq!(
            describe("30 9 * * 1-5"),
            "at 09:30, on Monday through Friday"
        );
        assert_eq!(describe("*/15 * * * *"), "every 15 minutes");
        assert_eq!(describe("* * * * *"), "every minute");
        assert_eq!(describe("5 * * * *"), "at minute 5 past every hour");
        assert_eq!(describe("0/10 * * * * ?"), "every 10 seconds");
        assert_eq!(
            describe("0 0 12 ? * 6#3"),
            "at 12:00, on the 3rd Friday of the month"
        );
        assert_eq!(
            describe("0 0 18 L * ?"),
            "at 18:00, on the last day of the month"
        );
        assert_eq!(describe("0 0 1 1 *"), "at 00:00, on the 1st, in January");
        assert_eq!(describe("rate(5 minutes)"), "every 5 minutes");
        assert_eq!(describe("rate(1 hour)"), "every hour");
        assert_eq!(
            describe("at(2026-12-01T10:00:00)"),
            "once, at 2026-12-01 10:00:00"
        );
        assert_eq!(
            describe("cron(0 10 ? * MON-FRI 2027)"),
            "at 10:00, on Monday through Friday, in 2027"
        );
    }
}
