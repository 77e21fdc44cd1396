//! Display and parsing, written once, for the closed sets of choices that the command line and
//! the reports name: eras, top-up policies, output encodings.

/// `Display` as the choice's `name()`, and `FromStr` that takes (trimmed) its name or one of
/// `$aliases(choice)` among `ALL`, else fails with `$unknown(text)`.
macro_rules! named_choice {
    ($choice:ty, $err:ty, $unknown:expr, $aliases:expr) => {
        impl std::fmt::Display for $choice {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $choice {
            type Err = $err;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let s = s.trim();
                let aliases: fn($choice) -> &'static [&'static str] = $aliases;
                <$choice>::ALL
                    .into_iter()
                    .find(|c| c.name() == s || aliases(*c).contains(&s))
                    .ok_or_else(|| $unknown(s.to_string()))
            }
        }
    };
}

pub(crate) use named_choice;

#[cfg(test)]
mod tests {
    use crate::config::{Era, TopupPolicy};
    use crate::trace::writer::OutputEncoding;
    use std::fmt::Display;
    use std::str::FromStr;

    /// A choice prints as its name and parses back from it, spaces around it ignored.
    fn round_trips<T>(all: &[T], name: fn(T) -> &'static str)
    where
        T: Copy + PartialEq + std::fmt::Debug + Display + FromStr,
        T::Err: std::fmt::Debug,
    {
        for &c in all {
            assert_eq!(c.to_string(), name(c));
            assert_eq!(format!(" {c} ").parse::<T>().ok(), Some(c));
        }
    }

    #[test]
    fn every_name_parses_back() {
        round_trips(&Era::ALL, Era::name);
        round_trips(&TopupPolicy::ALL, TopupPolicy::name);
        round_trips(&OutputEncoding::ALL, OutputEncoding::name);
    }
}
