//! Times and money as people read them: in the viewer's time zone and the
//! conventions of their language and region (month names, 12 or 24 hour
//! clock, digit grouping, where the currency symbol goes), relative where
//! that helps ("in 3 days", "yesterday 14:05"), with the exact time a
//! hover away.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};
use maud::{html, Markup};

/// A language and region for dates and numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    EnUs,
    EnGb,
    Es,
    Fr,
    De,
    PtBr,
}

/// The words of relative times.
struct Words {
    just_now: &'static str,
    today: &'static str,
    yesterday: &'static str,
    tomorrow: &'static str,
    /// "{n}" is replaced by the number.
    minutes_ago: &'static str,
    in_minutes: &'static str,
    days_ago: &'static str,
    in_days: &'static str,
}

impl Locale {
    pub const ALL: [Locale; 6] = [
        Locale::EnUs,
        Locale::EnGb,
        Locale::Es,
        Locale::Fr,
        Locale::De,
        Locale::PtBr,
    ];

    /// The default: English, with the day before the month and a 24-hour
    /// clock (what most of the world reads without thinking).
    pub const DEFAULT: Locale = Locale::EnGb;

    /// Its BCP 47 tag, as stored and as `lang` attributes take it.
    pub fn code(self) -> &'static str {
        match self {
            Locale::EnUs => "en-US",
            Locale::EnGb => "en-GB",
            Locale::Es => "es-ES",
            Locale::Fr => "fr-FR",
            Locale::De => "de-DE",
            Locale::PtBr => "pt-BR",
        }
    }

    /// Its name, in itself.
    pub fn name(self) -> &'static str {
        match self {
            Locale::EnUs => "English (United States)",
            Locale::EnGb => "English (United Kingdom)",
            Locale::Es => "Español (España)",
            Locale::Fr => "Français (France)",
            Locale::De => "Deutsch (Deutschland)",
            Locale::PtBr => "Português (Brasil)",
        }
    }

    pub fn parse(code: &str) -> Option<Locale> {
        Locale::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(code.trim()))
    }

    /// The closest of ours to a browser's `Accept-Language`.
    pub fn from_accept_language(header: &str) -> Option<Locale> {
        header.split(',').find_map(|part| {
            let tag = part.split(';').next().unwrap_or("").trim();
            Locale::parse(tag).or_else(|| {
                let lang = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
                match lang.as_str() {
                    "en" => Some(Locale::EnGb),
                    "es" => Some(Locale::Es),
                    "fr" => Some(Locale::Fr),
                    "de" => Some(Locale::De),
                    "pt" => Some(Locale::PtBr),
                    _ => None,
                }
            })
        })
    }

    fn months(self) -> [&'static str; 12] {
        match self {
            Locale::EnUs | Locale::EnGb => [
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
            ],
            Locale::Es => [
                "enero",
                "febrero",
                "marzo",
                "abril",
                "mayo",
                "junio",
                "julio",
                "agosto",
                "septiembre",
                "octubre",
                "noviembre",
                "diciembre",
            ],
            Locale::Fr => [
                "janvier",
                "février",
                "mars",
                "avril",
                "mai",
                "juin",
                "juillet",
                "août",
                "septembre",
                "octobre",
                "novembre",
                "décembre",
            ],
            Locale::De => [
                "Januar",
                "Februar",
                "März",
                "April",
                "Mai",
                "Juni",
                "Juli",
                "August",
                "September",
                "Oktober",
                "November",
                "Dezember",
            ],
            Locale::PtBr => [
                "janeiro",
                "fevereiro",
                "março",
                "abril",
                "maio",
                "junho",
                "julho",
                "agosto",
                "setembro",
                "outubro",
                "novembro",
                "dezembro",
            ],
        }
    }

    fn weekdays(self) -> [&'static str; 7] {
        match self {
            Locale::EnUs | Locale::EnGb => [
                "Monday",
                "Tuesday",
                "Wednesday",
                "Thursday",
                "Friday",
                "Saturday",
                "Sunday",
            ],
            Locale::Es => [
                "lunes",
                "martes",
                "miércoles",
                "jueves",
                "viernes",
                "sábado",
                "domingo",
            ],
            Locale::Fr => [
                "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
            ],
            Locale::De => [
                "Montag",
                "Dienstag",
                "Mittwoch",
                "Donnerstag",
                "Freitag",
                "Samstag",
                "Sonntag",
            ],
            Locale::PtBr => [
                "segunda-feira",
                "terça-feira",
                "quarta-feira",
                "quinta-feira",
                "sexta-feira",
                "sábado",
                "domingo",
            ],
        }
    }

    fn words(self) -> Words {
        match self {
            Locale::EnUs | Locale::EnGb => Words {
                just_now: "just now",
                today: "today",
                yesterday: "yesterday",
                tomorrow: "tomorrow",
                minutes_ago: "{n} min ago",
                in_minutes: "in {n} min",
                days_ago: "{n} days ago",
                in_days: "in {n} days",
            },
            Locale::Es => Words {
                just_now: "ahora mismo",
                today: "hoy",
                yesterday: "ayer",
                tomorrow: "mañana",
                minutes_ago: "hace {n} min",
                in_minutes: "dentro de {n} min",
                days_ago: "hace {n} días",
                in_days: "dentro de {n} días",
            },
            Locale::Fr => Words {
                just_now: "à l’instant",
                today: "aujourd’hui",
                yesterday: "hier",
                tomorrow: "demain",
                minutes_ago: "il y a {n} min",
                in_minutes: "dans {n} min",
                days_ago: "il y a {n} jours",
                in_days: "dans {n} jours",
            },
            Locale::De => Words {
                just_now: "gerade eben",
                today: "heute",
                yesterday: "gestern",
                tomorrow: "morgen",
                minutes_ago: "vor {n} Min.",
                in_minutes: "in {n} Min.",
                days_ago: "vor {n} Tagen",
                in_days: "in {n} Tagen",
            },
            Locale::PtBr => Words {
                just_now: "agora mesmo",
                today: "hoje",
                yesterday: "ontem",
                tomorrow: "amanhã",
                minutes_ago: "há {n} min",
                in_minutes: "em {n} min",
                days_ago: "há {n} dias",
                in_days: "em {n} dias",
            },
        }
    }

    /// (thousands separator, decimal mark).
    fn separators(self) -> (&'static str, &'static str) {
        match self {
            Locale::EnUs | Locale::EnGb => (",", "."),
            Locale::Es | Locale::De | Locale::PtBr => (".", ","),
            Locale::Fr => ("\u{202f}", ","),
        }
    }

    /// A clock time: 2:05 PM in the United States, 14:05 elsewhere.
    pub fn clock(self, hour: u32, minute: u32) -> String {
        match self {
            Locale::EnUs => {
                let (h, m) = (hour % 12, if hour < 12 { "AM" } else { "PM" });
                format!("{}:{minute:02} {m}", if h == 0 { 12 } else { h })
            }
            _ => format!("{hour:02}:{minute:02}"),
        }
    }

    /// A day: "March 5, 2026", "5 March 2026", "5 de marzo de 2026"…;
    /// without the year when `year` is false.
    pub fn date(self, d: NaiveDate, year: bool) -> String {
        let month = self.months()[d.month0() as usize];
        let (day, y) = (d.day(), d.year());
        match (self, year) {
            (Locale::EnUs, true) => format!("{month} {day}, {y}"),
            (Locale::EnUs, false) => format!("{month} {day}"),
            (Locale::EnGb | Locale::Fr, true) => format!("{day} {month} {y}"),
            (Locale::EnGb | Locale::Fr, false) => format!("{day} {month}"),
            (Locale::Es | Locale::PtBr, true) => format!("{day} de {month} de {y}"),
            (Locale::Es | Locale::PtBr, false) => format!("{day} de {month}"),
            (Locale::De, true) => format!("{day}. {month} {y}"),
            (Locale::De, false) => format!("{day}. {month}"),
        }
    }

    /// A month: "November 2026".
    pub fn month(self, year: i32, month0: u32) -> String {
        let name = self.months()[month0 as usize % 12];
        match self {
            Locale::Es | Locale::PtBr => format!("{name} de {year}"),
            _ => format!("{name} {year}"),
        }
    }

    /// A date and time in full, as a hover shows it.
    pub fn exact(self, t: &DateTime<chrono_tz::Tz>) -> String {
        let weekday = self.weekdays()[t.weekday().num_days_from_monday() as usize];
        format!(
            "{weekday}, {} {} {}",
            self.date(t.date_naive(), true),
            self.clock(t.hour(), t.minute()),
            t.format("%Z")
        )
    }

    /// `t` relative to `now` where that reads better than a date: minutes
    /// ago or to come within the hour, today / yesterday / tomorrow with
    /// the clock, days within a month, else the date (with its year when
    /// not this year's).
    pub fn relative(self, t: &DateTime<Utc>, now: &DateTime<Utc>, tz: chrono_tz::Tz) -> String {
        let w = self.words();
        let local = t.with_timezone(&tz);
        let secs = (*t - *now).num_seconds();
        let minutes = secs.abs() / 60;
        if secs.abs() <= 60 {
            return w.just_now.to_owned();
        }
        if minutes < 60 {
            let pattern = if secs < 0 {
                w.minutes_ago
            } else {
                w.in_minutes
            };
            return pattern.replace("{n}", &minutes.to_string());
        }
        let day = local.date_naive();
        let today = now.with_timezone(&tz).date_naive();
        let days = (day - today).num_days();
        let clock = self.clock(local.hour(), local.minute());
        match days {
            0 => format!("{} {clock}", w.today),
            -1 => format!("{} {clock}", w.yesterday),
            1 => format!("{} {clock}", w.tomorrow),
            2..=30 => w.in_days.replace("{n}", &days.to_string()),
            -30..=-2 => w.days_ago.replace("{n}", &(-days).to_string()),
            _ => self.date(day, day.year() != today.year()),
        }
    }

    /// A whole number with this locale's grouping: 1,234,567.
    pub fn grouped(self, n: u64) -> String {
        let (group, _) = self.separators();
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push_str(group);
            }
            out.push(c);
        }
        out
    }

    /// Money in minor units with its currency's symbol where this locale
    /// puts it: $1,234.50, 1.234,50 €, R$ 1.234,50.
    pub fn money(self, minor: i64, currency: &str) -> String {
        let (prefix, suffix) = self.money_affixes(currency);
        let (_, decimal) = self.separators();
        let sign = if minor < 0 { "-" } else { "" };
        let abs = minor.unsigned_abs();
        format!(
            "{sign}{prefix}{}{decimal}{:02}{suffix}",
            self.grouped(abs / 100),
            abs % 100
        )
    }

    /// What goes before and after the number for `currency`.
    pub fn money_affixes(self, currency: &str) -> (String, String) {
        let code = currency.trim().to_ascii_uppercase();
        let symbol = symbol(&code);
        let after = matches!(self, Locale::Es | Locale::Fr | Locale::De);
        match (symbol, after) {
            (_, true) => (String::new(), format!("\u{a0}{}", symbol.unwrap_or(&code))),
            (Some(s), false) if self == Locale::PtBr => (format!("{s}\u{a0}"), String::new()),
            (Some(s), false) => (s.to_owned(), String::new()),
            (None, false) if code.is_empty() => (String::new(), String::new()),
            (None, false) => (format!("{code}\u{a0}"), String::new()),
        }
    }
}

/// The symbol people know a currency by, for the common ones.
fn symbol(code: &str) -> Option<&'static str> {
    Some(match code {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        "INR" => "₹",
        "BRL" => "R$",
        "CAD" => "CA$",
        "AUD" => "A$",
        "MXN" => "MX$",
        "CNY" => "CN¥",
        "KRW" => "₩",
        "ILS" => "₪",
        "NGN" => "₦",
        "TRY" => "₺",
        _ => return None,
    })
}

/// A time as a `<time>` element: relative or short text, the exact time on
/// hover and for machines.
pub fn time(t: &DateTime<Utc>, now: &DateTime<Utc>, tz: chrono_tz::Tz, locale: Locale) -> Markup {
    let local = tz.from_utc_datetime(&t.naive_utc());
    html! {
        time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) title=(locale.exact(&local)) {
            (locale.relative(t, now, tz))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn times_read_relative_where_it_helps() {
        let now = at(2026, 3, 10, 12, 0);
        let tz = chrono_tz::Europe::Madrid;
        let en = Locale::EnGb;
        assert_eq!(en.relative(&at(2026, 3, 10, 11, 59), &now, tz), "just now");
        assert_eq!(
            en.relative(&at(2026, 3, 10, 11, 40), &now, tz),
            "20 min ago"
        );
        assert_eq!(
            en.relative(&at(2026, 3, 9, 13, 5), &now, tz),
            "yesterday 14:05"
        );
        assert_eq!(
            en.relative(&at(2026, 3, 11, 8, 30), &now, tz),
            "tomorrow 09:30"
        );
        assert_eq!(en.relative(&at(2026, 3, 13, 9, 0), &now, tz), "in 3 days");
        assert_eq!(en.relative(&at(2026, 2, 1, 9, 0), &now, tz), "1 February");
        assert_eq!(
            en.relative(&at(2025, 11, 27, 8, 9), &now, tz),
            "27 November 2025"
        );
        assert_eq!(
            Locale::EnUs.relative(&at(2026, 3, 9, 13, 5), &now, tz),
            "yesterday 2:05 PM"
        );
        assert_eq!(
            Locale::Es.relative(&at(2026, 3, 13, 9, 0), &now, tz),
            "dentro de 3 días"
        );
        let local = tz.from_utc_datetime(&at(2026, 3, 9, 13, 5).naive_utc());
        assert_eq!(en.exact(&local), "Monday, 9 March 2026 14:05 CET");
    }

    #[test]
    fn money_has_its_symbol_and_grouping() {
        assert_eq!(Locale::EnUs.money(123_456_789, "USD"), "$1,234,567.89");
        assert_eq!(Locale::EnGb.money(5, "gbp"), "£0.05");
        assert_eq!(Locale::De.money(123_456_789, "EUR"), "1.234.567,89\u{a0}€");
        assert_eq!(Locale::PtBr.money(150_050, "BRL"), "R$\u{a0}1.500,50");
        assert_eq!(Locale::EnGb.money(-25_000, "CHF"), "-CHF\u{a0}250.00");
        assert_eq!(
            Locale::Fr.money(10_000_000, "EUR"),
            "100\u{202f}000,00\u{a0}€"
        );
    }

    #[test]
    fn browsers_languages_find_ours() {
        assert_eq!(
            Locale::from_accept_language("de-AT,de;q=0.9,en;q=0.8"),
            Some(Locale::De)
        );
        assert_eq!(
            Locale::from_accept_language("en-US,en;q=0.5"),
            Some(Locale::EnUs)
        );
        assert_eq!(Locale::from_accept_language("ja"), None);
    }
}
