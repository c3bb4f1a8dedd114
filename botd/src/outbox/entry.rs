//! The on-disk form of one outbox message: a magic line, the bincode 1.3 metadata behind a
//! length, then the JPEG bytes one after the other. Decoding is bounded and never panics, so a
//! damaged or hostile file is reported, not trusted.
//!
//! Version 2 adds the message's kind and the message it replies to. Version 1 files (written
//! before kinds existed) still load: a text was a notice, an album an alert.

use bincode::Options;
use secura_bus::types::MessageKind;
use serde::{Deserialize, Serialize};

/// First bytes of every entry file written now; the digit is the format version.
pub const MAGIC: &[u8; 8] = b"SPCOUT2\n";
/// First bytes of a version 1 entry (no kind, no reply).
pub const MAGIC_V1: &[u8; 8] = b"SPCOUT1\n";
/// Metadata is small (a text of at most 4096 characters, a few lengths and user ids).
pub const MAX_META: u64 = 256 * 1024;
/// Photos per album that Telegram accepts in one `sendMediaGroup`.
pub const ALBUM_MAX: usize = 10;

/// What the message says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// A text message (`Notify`).
    Text {
        /// The text.
        text: String,
    },
    /// An album of photos with a caption and the alert buttons (`Alert`).
    Album {
        /// The caption.
        caption: String,
        /// Length of each photo in the file, in order.
        photo_lens: Vec<u64>,
    },
}

/// The metadata of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The outbox id returned to the caller.
    pub id: u64,
    /// When it was queued, µs since the epoch.
    pub created: u64,
    /// What kind of message it is (its look).
    pub kind: MessageKind,
    /// The outbox id of the message it replies to, 0 for none.
    pub reply_to: u64,
    /// Whether it carries the alert buttons (alarmd's alerts do; botd's own alert about
    /// alarmd being gone does not, as they could not work).
    pub buttons: bool,
    /// What to send.
    pub body: Body,
    /// The users authorized when it was queued; each gets it once.
    pub recipients: Vec<i64>,
}

/// The metadata of a version 1 entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct MetaV1 {
    id: u64,
    created: u64,
    body: Body,
    recipients: Vec<i64>,
}

impl From<MetaV1> for Meta {
    fn from(v1: MetaV1) -> Meta {
        // Version 1 had `Notify` (a text) and `Alert` (an album with buttons) only.
        let kind = match v1.body {
            Body::Text { .. } => MessageKind::Notice,
            Body::Album { .. } => MessageKind::Alert,
        };
        Meta {
            id: v1.id,
            created: v1.created,
            kind,
            reply_to: 0,
            buttons: kind == MessageKind::Alert,
            body: v1.body,
            recipients: v1.recipients,
        }
    }
}

impl Meta {
    /// How many requests deliver it to one recipient: one message, one photo, or the album's
    /// groups — for an alert followed by a message carrying the buttons (an album cannot
    /// carry them).
    pub fn parts(&self) -> u32 {
        match &self.body {
            Body::Text { .. } => 1,
            Body::Album { photo_lens, .. } if photo_lens.len() <= 1 => 1,
            Body::Album { photo_lens, .. } => {
                let buttons = usize::from(self.buttons);
                u32::try_from(album_groups(photo_lens.len()).len() + buttons).unwrap_or(u32::MAX)
            }
        }
    }
}

/// Split `n` (≥ 2) photos into groups of 2 to [`ALBUM_MAX`], as even as possible; the ranges
/// are indices into the photos.
pub fn album_groups(n: usize) -> Vec<std::ops::Range<usize>> {
    if n == 0 {
        return Vec::new();
    }
    let groups = n.div_ceil(ALBUM_MAX);
    let base = n / groups;
    let extra = n % groups;
    let mut out = Vec::with_capacity(groups);
    let mut start = 0;
    for g in 0..groups {
        let len = base + usize::from(g < extra);
        out.push(start..start + len);
        start += len;
    }
    out
}

fn options() -> impl Options {
    bincode::options()
        .with_limit(MAX_META)
        .with_little_endian()
        .with_fixint_encoding()
        .reject_trailing_bytes()
}

/// The whole file for `meta` and its `photos` (whose lengths `meta` must list).
pub fn encode(meta: &Meta, photos: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    let head = options().serialize(meta).map_err(|e| e.to_string())?;
    let head_len = u32::try_from(head.len()).map_err(|e| e.to_string())?;
    let total: usize = photos.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + head.len() + total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&head_len.to_le_bytes());
    out.extend_from_slice(&head);
    for p in photos {
        out.extend_from_slice(p);
    }
    Ok(out)
}

/// Read the metadata from the start of a file; also returns where the photos begin. The
/// caller checks the file length against [`expected_len`].
pub fn decode_meta(prefix: &[u8]) -> Result<(Meta, usize), String> {
    let (v1, rest) = match (
        prefix.strip_prefix(MAGIC.as_slice()),
        prefix.strip_prefix(MAGIC_V1.as_slice()),
    ) {
        (Some(rest), _) => (false, rest),
        (None, Some(rest)) => (true, rest),
        (None, None) => return Err("not an outbox entry (bad magic)".into()),
    };
    let (len_bytes, rest) = rest.split_first_chunk::<4>().ok_or("truncated header")?;
    let head_len = u32::from_le_bytes(*len_bytes);
    if u64::from(head_len) > MAX_META {
        return Err(format!("metadata of {head_len} bytes is over the limit"));
    }
    let head_len = usize::try_from(head_len).map_err(|e| e.to_string())?;
    let head = rest.get(..head_len).ok_or("truncated metadata")?;
    let meta: Meta = if v1 {
        options()
            .deserialize::<MetaV1>(head)
            .map(Meta::from)
            .map_err(|e| format!("unreadable metadata: {e}"))?
    } else {
        options()
            .deserialize(head)
            .map_err(|e| format!("unreadable metadata: {e}"))?
    };
    Ok((meta, MAGIC.len() + 4 + head_len))
}

/// The file length the metadata promises, given where the photos begin.
pub fn expected_len(meta: &Meta, photos_at: usize) -> Option<u64> {
    let mut total = u64::try_from(photos_at).ok()?;
    if let Body::Album { photo_lens, .. } = &meta.body {
        for l in photo_lens {
            total = total.checked_add(*l)?;
        }
    }
    Some(total)
}

/// Split a whole file into its metadata and photos.
pub fn decode(bytes: &[u8]) -> Result<(Meta, Vec<Vec<u8>>), String> {
    let (meta, photos_at) = decode_meta(bytes)?;
    let want = expected_len(&meta, photos_at).ok_or("photo lengths overflow")?;
    if u64::try_from(bytes.len()).ok() != Some(want) {
        return Err(format!(
            "the file has {} bytes, its metadata promises {want}",
            bytes.len()
        ));
    }
    let mut photos = Vec::new();
    if let Body::Album { photo_lens, .. } = &meta.body {
        let mut rest = bytes.get(photos_at..).ok_or("truncated photos")?;
        for l in photo_lens {
            let l = usize::try_from(*l).map_err(|e| e.to_string())?;
            let (p, r) = rest.split_at_checked(l).ok_or("truncated photo")?;
            photos.push(p.to_vec());
            rest = r;
        }
    }
    Ok((meta, photos))
}

/// Per-recipient progress: how many parts each user has been sent (confirmed by Telegram).
pub fn encode_progress(done: &[(i64, u32)]) -> Result<Vec<u8>, String> {
    options().serialize(done).map_err(|e| e.to_string())
}

/// Read the progress file; bounded like the metadata.
pub fn decode_progress(bytes: &[u8]) -> Result<Vec<(i64, u32)>, String> {
    options().deserialize(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn album(n: usize) -> (Meta, Vec<Vec<u8>>) {
        let photos: Vec<Vec<u8>> = (0..n)
            .map(|i| vec![u8::try_from(i).unwrap(); 10 + i])
            .collect();
        let meta = Meta {
            id: 7,
            created: 1,
            kind: MessageKind::Alert,
            reply_to: 0,
            buttons: true,
            body: Body::Album {
                caption: "motion in the hall".into(),
                photo_lens: photos.iter().map(|p| p.len() as u64).collect(),
            },
            recipients: vec![1, 2],
        };
        (meta, photos)
    }

    #[test]
    fn an_album_round_trips_with_its_photos() {
        let (meta, photos) = album(3);
        let bytes = encode(&meta, &photos).unwrap();
        assert_eq!(decode(&bytes).unwrap(), (meta, photos));
    }

    #[test]
    fn truncated_or_garbage_files_are_errors_not_panics() {
        let (meta, photos) = album(2);
        let bytes = encode(&meta, &photos).unwrap();
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
        // A header claiming a huge photo must not allocate or panic.
        let mut evil = MAGIC.to_vec();
        let huge = Meta {
            id: 1,
            created: 1,
            kind: MessageKind::Alert,
            reply_to: 0,
            buttons: true,
            body: Body::Album {
                caption: String::new(),
                photo_lens: vec![u64::MAX, 5],
            },
            recipients: vec![],
        };
        let head = options().serialize(&huge).unwrap();
        evil.extend_from_slice(&(head.len() as u32).to_le_bytes());
        evil.extend_from_slice(&head);
        assert!(decode(&evil).is_err());
        // A string length prefix of 2^60 is refused by the size limit.
        let mut evil = MAGIC.to_vec();
        evil.extend_from_slice(&64u32.to_le_bytes());
        evil.extend_from_slice(&[0xff; 64]);
        assert!(decode(&evil).is_err());
    }

    #[test]
    fn albums_are_split_into_groups_telegram_accepts() {
        for n in 2..=95 {
            let groups = album_groups(n);
            assert_eq!(groups.iter().map(|g| g.len()).sum::<usize>(), n);
            assert!(
                groups.iter().all(|g| (2..=ALBUM_MAX).contains(&g.len())),
                "{n}: {groups:?}"
            );
        }
        assert_eq!(album(1).0.parts(), 1);
        assert_eq!(album(3).0.parts(), 2);
        assert_eq!(album(11).0.parts(), 3);
        // Only an alert's album is followed by the buttons.
        let mut follow_up = album(3).0;
        follow_up.kind = MessageKind::FollowUp;
        follow_up.buttons = false;
        assert_eq!(follow_up.parts(), 1);
    }

    #[test]
    fn a_version_1_entry_loads_as_a_notice_or_an_alert() {
        let (v2, photos) = album(2);
        let v1 = MetaV1 {
            id: v2.id,
            created: v2.created,
            body: v2.body.clone(),
            recipients: v2.recipients.clone(),
        };
        let head = options().serialize(&v1).unwrap();
        let mut bytes = MAGIC_V1.to_vec();
        bytes.extend_from_slice(&(head.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&head);
        for p in &photos {
            bytes.extend_from_slice(p);
        }
        assert_eq!(decode(&bytes).unwrap(), (v2, photos));
        let text = MetaV1 {
            id: 3,
            created: 1,
            body: Body::Text {
                text: "Armed.".into(),
            },
            recipients: vec![1],
        };
        let head = options().serialize(&text).unwrap();
        let mut bytes = MAGIC_V1.to_vec();
        bytes.extend_from_slice(&(head.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&head);
        let (meta, _) = decode(&bytes).unwrap();
        assert_eq!((meta.kind, meta.reply_to), (MessageKind::Notice, 0));
    }

    #[test]
    fn progress_round_trips() {
        let p = vec![(1, 2), (5, 0)];
        assert_eq!(decode_progress(&encode_progress(&p).unwrap()).unwrap(), p);
        assert!(decode_progress(&[1, 2, 3]).is_err());
    }
}
