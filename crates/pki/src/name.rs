//! Subject / issuer distinguished names: building from CAS fields, and
//! rendering in the CAS style (`C=CN,ST=Zhejiang,L=Hangzhou,O=Org,OU=Unit,CN=Name`).

use const_oid::ObjectIdentifier;
use const_oid::db::{rfc3280, rfc4519};
use der::asn1::{Any, Ia5StringRef, PrintableStringRef};
use der::{Tag, Tagged};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

use crate::country::is_iso3166_alpha2;
use crate::error::{Error, Result};

/// RFC 5280 upper bounds (characters) for the attributes CAS exposes.
pub const UB_COMMON_NAME: usize = 64;
/// ub-organization-name.
pub const UB_ORGANIZATION: usize = 64;
/// ub-organizational-unit-name.
pub const UB_ORGANIZATIONAL_UNIT: usize = 64;
/// ub-locality-name.
pub const UB_LOCALITY: usize = 128;
/// ub-state-name.
pub const UB_STATE: usize = 128;
/// Longest value (characters) of an extra subject attribute.
pub const MAX_EXTRA_ATTRIBUTE_LEN: usize = 128;
/// ub-serial-number (X520SerialNumber).
const UB_SERIAL_NUMBER: usize = 64;

/// The subject attributes the CAS API deals in.
///
/// Empty strings count as absent. Built names use UTF8String for every value
/// except countryName (PrintableString, as RFC 5280 requires) and are ordered
/// C, ST, L, O, OU, CN, one attribute per RDN.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubjectFields {
    /// commonName (required when building).
    pub common_name: String,
    /// organizationName.
    pub organization: Option<String>,
    /// organizationalUnitName.
    pub organizational_unit: Option<String>,
    /// localityName.
    pub locality: Option<String>,
    /// stateOrProvinceName.
    pub state: Option<String>,
    /// countryName: an ISO 3166-1 alpha-2 code (lower case is upper-cased).
    pub country_code: Option<String>,
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

fn check_value(what: &str, v: &str) -> Result<()> {
    if v.trim().is_empty() {
        return Err(Error::InvalidSubject(format!("{what} is blank")));
    }
    if v.chars().any(char::is_control) {
        return Err(Error::InvalidSubject(format!("{what} contains control characters")));
    }
    Ok(())
}

fn atv_utf8(oid: ObjectIdentifier, what: &str, v: &str) -> Result<AttributeTypeAndValue> {
    check_value(what, v)?;
    Ok(AttributeTypeAndValue {
        oid,
        value: Any::new(Tag::Utf8String, v.as_bytes()).map_err(Error::encoding)?,
    })
}

impl SubjectFields {
    /// The normalised (upper-case) country code, validated against ISO 3166-1.
    fn country(&self) -> Result<Option<String>> {
        match present(&self.country_code) {
            None => Ok(None),
            Some(c) => {
                let up = c.to_ascii_uppercase();
                if is_iso3166_alpha2(&up) {
                    Ok(Some(up))
                } else {
                    Err(Error::InvalidCountryCode(c.to_string()))
                }
            }
        }
    }

    /// Builds the X.509 `Name`. Fails when the common name is empty, a value is
    /// blank or has control characters, or the country code is not assigned.
    /// RFC 5280 length bounds are not enforced here; see
    /// [`SubjectFields::exceeds_rfc5280_bounds`].
    pub fn to_name(&self) -> Result<Name> {
        self.to_name_with_extra(&[])
    }

    /// [`SubjectFields::to_name`] followed by `extra` (dotted OID, value)
    /// attributes, each its own RDN, in the order given (see [`Self::extra_atv`]).
    pub(crate) fn to_name_with_extra(&self, extra: &[(String, String)]) -> Result<Name> {
        if self.common_name.is_empty() {
            return Err(Error::InvalidSubject("common name is required".into()));
        }
        let mut atvs = Vec::with_capacity(6);
        if let Some(c) = self.country()? {
            let value = PrintableStringRef::new(&c).map_err(Error::encoding)?;
            atvs.push(AttributeTypeAndValue {
                oid: rfc4519::COUNTRY_NAME,
                value: Any::from(value),
            });
        }
        let fields = [
            (rfc4519::ST, "state", present(&self.state)),
            (rfc4519::LOCALITY_NAME, "locality", present(&self.locality)),
            (rfc4519::ORGANIZATION_NAME, "organization", present(&self.organization)),
            (
                rfc4519::ORGANIZATIONAL_UNIT_NAME,
                "organizational unit",
                present(&self.organizational_unit),
            ),
            (rfc4519::COMMON_NAME, "common name", Some(self.common_name.as_str())),
        ];
        for (oid, what, v) in fields {
            if let Some(v) = v {
                atvs.push(atv_utf8(oid, what, v)?);
            }
        }
        for (oid, value) in extra {
            atvs.push(self.extra_atv(oid, value)?);
        }
        let rdns = atvs
            .into_iter()
            .map(|a| RelativeDistinguishedName::try_from(vec![a]))
            .collect::<der::Result<Vec<_>>>()
            .map_err(Error::encoding)?;
        Ok(Name::hazmat_from_rdn_sequence(RdnSequence::from(rdns)))
    }

    /// Whether the standard attribute `oid` is already set here.
    fn has_standard(&self, oid: ObjectIdentifier) -> Option<bool> {
        Some(match oid {
            rfc4519::COMMON_NAME => !self.common_name.is_empty(),
            rfc4519::ORGANIZATION_NAME => present(&self.organization).is_some(),
            rfc4519::ORGANIZATIONAL_UNIT_NAME => present(&self.organizational_unit).is_some(),
            rfc4519::LOCALITY_NAME => present(&self.locality).is_some(),
            rfc4519::ST => present(&self.state).is_some(),
            rfc4519::COUNTRY_NAME => present(&self.country_code).is_some(),
            _ => return None,
        })
    }

    /// One extra subject attribute: `oid` in dotted form, `value` non-blank,
    /// without control characters, at most [`MAX_EXTRA_ATTRIBUTE_LEN`]
    /// characters. Encoded as UTF8String except where RFC 5280 fixes the type:
    /// countryName (an ISO 3166-1 code, PrintableString), serialNumber and
    /// dnQualifier (PrintableString), emailAddress and domainComponent
    /// (IA5String). One of the six standard attributes is refused when it is
    /// already set in these fields.
    fn extra_atv(&self, oid: &str, value: &str) -> Result<AttributeTypeAndValue> {
        fn bad<T>(m: String) -> Result<T> {
            Err(Error::InvalidSubject(m))
        }
        let parsed = match ObjectIdentifier::new(oid) {
            Ok(o) if o.arcs().count() >= 2 => o,
            _ => return bad(format!("subject attribute type {oid:?} is not a dotted OID")),
        };
        let what = format!("subject attribute {oid}");
        if value.is_empty() {
            return bad(format!("{what} is empty"));
        }
        check_value(&what, value)?;
        let len = value.chars().count();
        if len > MAX_EXTRA_ATTRIBUTE_LEN {
            return bad(format!("{what} is longer than {MAX_EXTRA_ATTRIBUTE_LEN} characters"));
        }
        if self.has_standard(parsed) == Some(true) {
            return bad(format!("{what} duplicates a subject field that is already set"));
        }
        let printable = |v: &str| -> Result<Any> {
            match PrintableStringRef::new(v) {
                Ok(p) => Ok(Any::from(p)),
                Err(_) => bad(format!("{what} must be a PrintableString")),
            }
        };
        let value = match parsed {
            rfc4519::COUNTRY_NAME => {
                let up = value.to_ascii_uppercase();
                if !is_iso3166_alpha2(&up) {
                    return Err(Error::InvalidCountryCode(value.to_string()));
                }
                printable(&up)?
            }
            rfc4519::SERIAL_NUMBER if len > UB_SERIAL_NUMBER => {
                return bad(format!("{what} is longer than {UB_SERIAL_NUMBER} characters"));
            }
            rfc4519::SERIAL_NUMBER | rfc4519::DN_QUALIFIER => printable(value)?,
            rfc3280::EMAIL_ADDRESS | rfc4519::DOMAIN_COMPONENT => match Ia5StringRef::new(value) {
                Ok(v) => Any::from(v),
                Err(_) => return bad(format!("{what} must be an IA5String (ASCII)")),
            },
            _ => Any::new(Tag::Utf8String, value.as_bytes()).map_err(Error::encoding)?,
        };
        Ok(AttributeTypeAndValue { oid: parsed, value })
    }

    /// The first attribute exceeding its RFC 5280 upper bound, if any
    /// (`"commonName"`, `"organizationName"`, ...). CAS itself accepts longer
    /// organisation names; the service decides whether to enforce these.
    pub fn exceeds_rfc5280_bounds(&self) -> Option<&'static str> {
        let over = |v: Option<&str>, ub: usize| v.is_some_and(|s| s.chars().count() > ub);
        if over(Some(&self.common_name), UB_COMMON_NAME) {
            Some("commonName")
        } else if over(present(&self.organization), UB_ORGANIZATION) {
            Some("organizationName")
        } else if over(present(&self.organizational_unit), UB_ORGANIZATIONAL_UNIT) {
            Some("organizationalUnitName")
        } else if over(present(&self.locality), UB_LOCALITY) {
            Some("localityName")
        } else if over(present(&self.state), UB_STATE) {
            Some("stateOrProvinceName")
        } else {
            None
        }
    }

    /// Reads the six fields from a `Name` (first occurrence of each attribute).
    pub fn from_name(name: &Name) -> SubjectFields {
        let get = |oid: ObjectIdentifier| name.iter().find(|a| a.oid == oid).and_then(|a| any_to_string(&a.value));
        SubjectFields {
            common_name: get(rfc4519::COMMON_NAME).unwrap_or_default(),
            organization: get(rfc4519::ORGANIZATION_NAME),
            organizational_unit: get(rfc4519::ORGANIZATIONAL_UNIT_NAME),
            locality: get(rfc4519::LOCALITY_NAME),
            state: get(rfc4519::ST),
            country_code: get(rfc4519::COUNTRY_NAME),
        }
    }
}

/// Decodes a DirectoryString-like value (UTF8, Printable, IA5, Teletex as
/// Latin-1, BMP, Universal, Numeric, Visible) to a Rust string.
pub(crate) fn any_to_string(v: &Any) -> Option<String> {
    let b = v.value();
    match v.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::VisibleString | Tag::NumericString => {
            String::from_utf8(b.to_vec()).ok()
        }
        Tag::TeletexString => Some(b.iter().map(|&c| char::from(c)).collect()),
        Tag::BmpString => {
            if !b.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = b.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            String::from_utf16(&units).ok()
        }
        // UniversalString (tag 28) has no `der::Tag` variant.
        t if t.is_universal() && !t.is_constructed() && t.number().value() == 28 => {
            if !b.len().is_multiple_of(4) {
                return None;
            }
            b.chunks(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        _ => None,
    }
}

fn short_name(oid: &ObjectIdentifier) -> Option<&'static str> {
    Some(match *oid {
        rfc4519::COUNTRY_NAME => "C",
        rfc4519::ST => "ST",
        rfc4519::LOCALITY_NAME => "L",
        rfc4519::ORGANIZATION_NAME => "O",
        rfc4519::ORGANIZATIONAL_UNIT_NAME => "OU",
        rfc4519::COMMON_NAME => "CN",
        rfc4519::STREET => "STREET",
        rfc4519::DOMAIN_COMPONENT => "DC",
        rfc4519::SERIAL_NUMBER => "serialNumber",
        rfc4519::UID => "UID",
        rfc4519::TITLE => "title",
        rfc4519::GIVEN_NAME => "GN",
        rfc4519::SURNAME => "SN",
        rfc4519::POSTAL_CODE => "postalCode",
        rfc3280::EMAIL_ADDRESS => "emailAddress",
        _ => return None,
    })
}

fn escape_into(out: &mut String, v: &str) {
    for c in v.chars() {
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Renders a name in the CAS / OpenSSL one-line style, attributes in encoding
/// order, comma-separated without spaces: `C=CN,ST=Zhejiang,...,CN=Name`.
/// Multi-valued RDNs are joined with `+`; special characters are
/// backslash-escaped; unknown attributes appear as `dotted.oid=#hex`.
pub fn dn_string(name: &Name) -> String {
    let mut out = String::new();
    for (i, rdn) in name.iter_rdn().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let key = short_name(&atv.oid)
                .map(str::to_string)
                .unwrap_or_else(|| atv.oid.to_string());
            out.push_str(&key);
            out.push('=');
            match any_to_string(&atv.value) {
                Some(s) => escape_into(&mut out, &s),
                None => {
                    out.push('#');
                    let der = der::Encode::to_der(&atv.value).unwrap_or_default();
                    out.push_str(&hex::encode(der));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::{Decode, Encode};

    fn fields() -> SubjectFields {
        SubjectFields {
            common_name: "阿里云 Root CA".into(),
            organization: Some("Org, Inc".into()),
            organizational_unit: Some("Unit".into()),
            locality: Some("Hangzhou".into()),
            state: Some("Zhejiang".into()),
            country_code: Some("cn".into()),
        }
    }

    #[test]
    fn builds_ordered_utf8_name() {
        let name = fields().to_name().unwrap();
        assert_eq!(
            dn_string(&name),
            "C=CN,ST=Zhejiang,L=Hangzhou,O=Org\\, Inc,OU=Unit,CN=阿里云 Root CA"
        );
        let tags: Vec<Tag> = name.iter().map(|a| a.value.tag()).collect();
        assert_eq!(tags[0], Tag::PrintableString);
        assert!(tags[1..].iter().all(|t| *t == Tag::Utf8String));
        assert_eq!(name.iter_rdn().count(), 6);
        // DER round trip
        let back = Name::from_der(&name.to_der().unwrap()).unwrap();
        let mut expect = fields();
        expect.country_code = Some("CN".into());
        assert_eq!(SubjectFields::from_name(&back), expect);
    }

    #[test]
    fn optional_fields_and_errors() {
        let only_cn = SubjectFields {
            common_name: "x".into(),
            organization: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(dn_string(&only_cn.to_name().unwrap()), "CN=x");
        assert!(matches!(
            SubjectFields::default().to_name(),
            Err(Error::InvalidSubject(_))
        ));
        let mut bad = fields();
        bad.country_code = Some("XX".into());
        assert!(matches!(bad.to_name(), Err(Error::InvalidCountryCode(_))));
        let mut bad = fields();
        bad.locality = Some("a\nb".into());
        assert!(matches!(bad.to_name(), Err(Error::InvalidSubject(_))));
        let mut long = fields();
        assert_eq!(long.exceeds_rfc5280_bounds(), None);
        long.organization = Some("o".repeat(65));
        assert_eq!(long.exceeds_rfc5280_bounds(), Some("organizationName"));
    }

    #[test]
    fn renders_foreign_encodings() {
        let name: Name = "CN=a+UID=b,O=c".parse().unwrap();
        // FromStr takes RFC 4514 order (reversed); we print encoding order.
        assert_eq!(dn_string(&name), "O=c,CN=a+UID=b");
        let bmp = Any::new(Tag::BmpString, vec![0x00, 0x41, 0x6c, 0x34]).unwrap();
        assert_eq!(any_to_string(&bmp).unwrap(), "A水");
    }
}
