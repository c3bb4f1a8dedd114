use super::*;

const DAY: u64 = 24 * 3600 * 1_000_000;

fn open(dir: &Path) -> Outbox {
    Outbox::open(dir, DAY, 1 << 20).unwrap()
}

fn album(n: u8) -> NewMessage {
    NewMessage::Album {
        caption: format!("alert {n}"),
        photos: vec![vec![n; 100], vec![n.wrapping_add(1); 50]],
    }
}

#[test]
fn queued_messages_survive_a_reopen_in_order_with_their_photos() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = open(dir.path());
    let (a, _) = ob
        .enqueue(NewMessage::Text("one".into()), vec![1], 10)
        .unwrap();
    let (b, _) = ob.enqueue(album(2), vec![1, 2], 20).unwrap();
    assert!(b > a);
    drop(ob);
    let ob = open(dir.path());
    assert_eq!(ob.len(), 2);
    assert_eq!(ob.head(), Some(a));
    let p = ob.load(b).unwrap().unwrap();
    assert_eq!(p.photos, vec![vec![2; 100], vec![3; 50]]);
    assert_eq!(p.meta.recipients, vec![1, 2]);
}

#[test]
fn ids_are_never_reused_after_everything_was_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = open(dir.path());
    let (a, _) = ob
        .enqueue(NewMessage::Text("x".into()), vec![1], 1)
        .unwrap();
    ob.remove(a).unwrap();
    drop(ob);
    let mut ob = open(dir.path());
    let (b, _) = ob
        .enqueue(NewMessage::Text("y".into()), vec![1], 2)
        .unwrap();
    assert!(b > a);
}

#[test]
fn progress_is_kept_until_the_message_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = open(dir.path());
    let (id, _) = ob.enqueue(album(1), vec![1, 2], 1).unwrap();
    let mut done = HashMap::new();
    done.insert(1, 2);
    ob.record(id, &done).unwrap();
    let ob2 = open(dir.path());
    assert_eq!(ob2.load(id).unwrap().unwrap().progress, done);
    ob.remove(id).unwrap();
    assert!(ob.load(id).unwrap().is_none());
    let names: Vec<_> = std::fs::read_dir(dir.path().join(DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, vec![NEXT_ID.to_string(), QUEUED_AT.to_string()]);
}

const MAX_AGE: u64 = 300_000;

fn wait_past_max_age() {
    std::thread::sleep(std::time::Duration::from_micros(MAX_AGE + 100_000));
}

#[test]
fn messages_queued_longer_than_max_age_expire() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = Outbox::open(dir.path(), MAX_AGE, 1 << 20).unwrap();
    let (old, _) = ob
        .enqueue(NewMessage::Text("old".into()), vec![1], 1)
        .unwrap();
    wait_past_max_age();
    let (new, _) = ob
        .enqueue(NewMessage::Text("new".into()), vec![1], 2)
        .unwrap();
    let dropped = ob.expire().unwrap();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].id, old);
    assert_eq!(dropped[0].created, 1);
    assert_eq!(ob.head(), Some(new));
}

#[test]
fn a_wall_clock_step_of_25_hours_drops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = open(dir.path());
    let t0 = 1_800_000_000 * 1_000_000;
    let (a, _) = ob
        .enqueue(NewMessage::Text("alert".into()), vec![1], t0)
        .unwrap();
    // SNTP answers: the wall clock jumps 25 h ahead; the message has waited moments.
    let stepped = t0 + DAY + 3600 * 1_000_000;
    let (b, _) = ob
        .enqueue(NewMessage::Text("later".into()), vec![1], stepped)
        .unwrap();
    assert!(ob.expire().unwrap().is_empty());
    assert_eq!(ob.head(), Some(a));
    assert!(ob.queued_for(a).unwrap() < DAY);
    assert!(ob.queued_for(b).unwrap() <= ob.queued_for(a).unwrap());
}

#[test]
fn time_queued_carries_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = Outbox::open(dir.path(), MAX_AGE, 1 << 20).unwrap();
    let (a, _) = ob
        .enqueue(NewMessage::Text("old".into()), vec![1], 1)
        .unwrap();
    wait_past_max_age();
    drop(ob);
    let mut ob = Outbox::open(dir.path(), MAX_AGE, 1 << 20).unwrap();
    let dropped = ob.expire().unwrap();
    assert_eq!(dropped.iter().map(|d| d.id).collect::<Vec<_>>(), [a]);

    // A damaged clock file only makes messages wait longer.
    let mut ob = Outbox::open(dir.path(), DAY, 1 << 20).unwrap();
    let (b, _) = ob
        .enqueue(NewMessage::Text("b".into()), vec![1], 2)
        .unwrap();
    drop(ob);
    std::fs::write(dir.path().join(DIR).join(QUEUED_AT), "clock ??\nzz\n").unwrap();
    let mut ob = Outbox::open(dir.path(), DAY, 1 << 20).unwrap();
    assert!(ob.expire().unwrap().is_empty());
    assert_eq!(ob.head(), Some(b));
}

#[test]
fn the_byte_budget_drops_the_oldest_and_refuses_the_oversized() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = Outbox::open(dir.path(), DAY, 1000).unwrap();
    let big = |n: u8| NewMessage::Album {
        caption: String::new(),
        photos: vec![vec![n; 400]],
    };
    let (a, _) = ob.enqueue(big(1), vec![1], 1).unwrap();
    let (b, d) = ob.enqueue(big(2), vec![1], 2).unwrap();
    assert!(d.is_empty());
    let (_, d) = ob.enqueue(big(3), vec![1], 3).unwrap();
    assert_eq!(d.iter().map(|x| x.id).collect::<Vec<_>>(), vec![a]);
    assert_eq!(ob.head(), Some(b));
    assert!(ob.bytes() <= 1000);
    let err = ob
        .enqueue(
            NewMessage::Album {
                caption: String::new(),
                photos: vec![vec![0; 2000]],
            },
            vec![1],
            4,
        )
        .unwrap_err();
    assert!(matches!(err, BotError::Full(_)), "{err}");
}

#[test]
fn damaged_entries_and_leftovers_are_cleaned_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = open(dir.path());
    let (good, _) = ob
        .enqueue(NewMessage::Text("good".into()), vec![1], 1)
        .unwrap();
    let (bad, _) = ob.enqueue(album(5), vec![1], 2).unwrap();
    drop(ob);
    let out = dir.path().join(DIR);
    let bad_path = out.join(msg_name(bad));
    let bytes = std::fs::read(&bad_path).unwrap();
    std::fs::write(&bad_path, &bytes[..bytes.len() - 3]).unwrap();
    std::fs::write(out.join(".00000000000000000009.msg.tmp"), b"half").unwrap();
    std::fs::write(out.join(sent_name(12345)), b"stray").unwrap();
    std::fs::write(out.join("00000000000000000077.msg"), b"garbage").unwrap();
    let ob = open(dir.path());
    assert_eq!(ob.len(), 1);
    assert_eq!(ob.head(), Some(good));
    let mut names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![msg_name(good), NEXT_ID.to_string(), QUEUED_AT.to_string()]
    );
}
