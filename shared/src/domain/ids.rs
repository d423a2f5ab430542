//! The ids of the AWS resources the loops act on, each its own type, so a function that takes an
//! instance cannot be handed an image. An id from an event or a command is parsed (a typed error
//! for anything else); an id AWS itself answered with is taken as it is (`From`).

use std::fmt;
use std::ops::Deref;

/// `prefix-` then 8 or 17 lowercase hex digits: the EC2 resource id formats
/// (<https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/resource-ids.html>).
fn is_ec2_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hex| {
            matches!(hex.len(), 8 | 17)
                && hex
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        })
}

macro_rules! resource_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $valid:expr) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// An id from an event or a command: refused unless it has the form AWS gives it.
            pub fn parse(id: &str) -> Result<Self, String> {
                let valid: fn(&str) -> bool = $valid;
                if valid(id) {
                    Ok($name(id.to_owned()))
                } else {
                    Err(format!("`{id}` is not {}", $what))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_owned())
            }
        }

        /// An SDK request builder takes the id as a `String`.
        impl From<&$name> for String {
            fn from(id: &$name) -> String {
                id.0.clone()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

resource_id!(
    /// An EC2 instance (`i-0abc…`).
    InstanceId,
    "an instance id",
    |id| is_ec2_id(id, "i")
);
resource_id!(
    /// An AMI (`ami-0abc…`).
    ImageId,
    "an image id",
    |id| is_ec2_id(id, "ami")
);
resource_id!(
    /// A launch template (`lt-0abc…`).
    LaunchTemplateId,
    "a launch template id",
    |id| is_ec2_id(id, "lt")
);
resource_id!(
    /// An Auto Scaling group's name: 1 to 255 characters, none of them a control character
    /// (<https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CreateAutoScalingGroup.html>).
    GroupName,
    "an Auto Scaling group name",
    |name| (1..=255).contains(&name.chars().count()) && !name.chars().any(char::is_control)
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_forms_aws_gives_them() {
        for ok in ["i-12345678", "i-1234567890abcdef0"] {
            assert!(InstanceId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "i-",
            "i-zzz",
            "i-0abc",
            "ami-12345678",
            "I-12345678",
            "i-1234567890ABCDEF0",
        ] {
            assert!(InstanceId::parse(bad).is_err(), "{bad}");
        }
        assert!(ImageId::parse("ami-0abcdef1234567890").is_ok());
        assert!(ImageId::parse("i-0abcdef1234567890").is_err());
        assert!(LaunchTemplateId::parse("lt-0abcdef1234567890").is_ok());
        assert!(GroupName::parse("prod-web").is_ok());
        assert!(GroupName::parse("").is_err());
        assert!(GroupName::parse(&"g".repeat(256)).is_err());
    }

    /// The JSON of a record or an outcome is the id itself, as before it had a type.
    #[test]
    fn an_id_serialises_as_its_string() {
        let id = InstanceId::parse("i-1234567890abcdef0").unwrap();
        assert_eq!(serde_json::to_value(&id).unwrap(), "i-1234567890abcdef0");
        let back: InstanceId = serde_json::from_value(serde_json::json!("i-12345678")).unwrap();
        assert_eq!(back, "i-12345678");
    }
}
