//! Tabular context and phone formats (issue 11): values in CSV / TSV / markdown / fixed-column
//! tables take their column header as context, hard negatives in tables stay quiet, and phone
//! numbers in the usual national and international formats are found in prose.

use shared::dlp::Scanner;

/// Detector ids found over each of `values` (which must occur in `text`), in order.
fn found_over(text: &str, values: &[&str]) -> Vec<Option<&'static str>> {
    let dets = Scanner::global().scan(text);
    values
        .iter()
        .map(|v| {
            let s = text.find(v).unwrap_or_else(|| panic!("{v:?} not in text"));
            let e = s + v.len();
            dets.iter().find(|d| d.start < e && s < d.end).map(|d| d.detector)
        })
        .collect()
}

#[test]
fn bare_ssns_and_phones_under_their_headers() {
    let csv = "name,email,phone,ssn\nAvery Dahl,avery.dahl@corvid-analytics.com,4159277024,538291047\n\
               Bram Kaur,bkaur@harborline.io,6176863941,412739021\n";
    assert_eq!(
        found_over(csv, &["4159277024", "538291047", "6176863941", "412739021"]),
        vec![Some("phone_number"), Some("us_ssn"), Some("phone_number"), Some("us_ssn")]
    );
    let tsv = "Name\tDOB\tSSN\nR. Okafor\t1981-04-02\t601 44 2398\n";
    assert_eq!(found_over(tsv, &["601 44 2398", "1981-04-02"]), vec![Some("us_ssn"), None]);
    let md = "| Member | Social Security | Plan |\n|---|---|---|\n| K. Mbeki | 287306612 | PPO |\n";
    assert_eq!(found_over(md, &["287306612"]), vec![Some("us_ssn")]);
    // A field/value table: the row's own label is the context, the header line is not.
    let kv = "| field | value |\n|---|---|\n| SSN | 287306612 |\n| phone | 4159277024 |\n| employee no | 538291047 |\n";
    assert_eq!(
        found_over(kv, &["287306612", "4159277024", "538291047"]),
        vec![Some("us_ssn"), Some("phone_number"), None]
    );
    let fixed = "NAME          MOBILE            ROOM\nS. Quist      07911 123456      4.12\nT. Iwata      090-4412-8890     2.07\n";
    assert_eq!(found_over(fixed, &["07911 123456", "090-4412-8890"]), vec![Some("phone_number"), Some("phone_number")]);
}

#[test]
fn a_long_table_is_found_row_by_row() {
    let mut csv = String::from("id_internal,contact_name,tel\n");
    let mut phones = Vec::new();
    for i in 0..400u32 {
        let p = format!("(617) {}-{:04}", 320 + i % 60, (i * 7919) % 10000);
        csv.push_str(&format!("r{i},Person {i},{p}\n"));
        phones.push(p);
    }
    let refs: Vec<&str> = phones.iter().map(String::as_str).collect();
    let found = found_over(&csv, &refs);
    let missed: Vec<&str> =
        refs.iter().zip(&found).filter(|(_, d)| **d != Some("phone_number")).map(|(p, _)| *p).collect();
    assert!(missed.is_empty(), "{} of {} rows missed, e.g. {:?}", missed.len(), refs.len(), missed.first());
}

#[test]
fn hard_negatives_in_tables_stay_quiet() {
    let t = "item,order_id,zip,shipped,version\nrotor,412739021,94107-1234,2024-05-02,4.12.1\n\
             panel,538291047,10001-2201,2024-05-03,10.0.19045\n";
    assert!(Scanner::global().scan(t).is_empty(), "{:?}", Scanner::global().scan(t));
    let t = "| sku | tracking | employee_id |\n|---|---|---|\n| 482-111-2391 | 415927702412 | 601442398 |\n";
    assert!(Scanner::global().scan(t).is_empty(), "{:?}", Scanner::global().scan(t));
    // A dashed SSN shape under an order-number header is an order number.
    let t = "order #,amount\n536-22-1234,12.50\n";
    assert!(Scanner::global().scan(t).is_empty());
}

#[test]
fn password_column() {
    let t = "service,username,password\nvpn,ops,Summer1097$\ngrafana,admin,Ocean1545*\nwiki,ann,********\n";
    assert_eq!(found_over(t, &["Summer1097$", "Ocean1545*"]), vec![Some("password"), Some("password")]);
    assert_eq!(Scanner::global().scan(t).len(), 2, "the masked cell is not a password");
    let t = "| user | password_hint |\n|---|---|\n| ann | Summer1097$ |\n";
    assert!(Scanner::global().scan(t).is_empty());
}

#[test]
fn phone_formats_in_prose() {
    for (text, value) in [
        ("call me on +1 415 927 7024 when you land", "+1 415 927 7024"),
        ("Our Boston desk is 617.686.3941", "617.686.3941"),
        ("escalate P1s to +1-206-888-4134", "+1-206-888-4134"),
        ("Belfast office: (028) 9018 0040", "(028) 9018 0040"),
        ("Freephone +44(0)808 157 0989 is staffed 24/7", "+44(0)808 157 0989"),
        ("pls escalate the outage to 020 7946 0958", "020 7946 0958"),
        ("mobile 0171 4829637", "0171 4829637"),
        ("appelez le 01 44 55 66 77 pour le support", "01 44 55 66 77"),
        ("my cell in Pune is 98220 41567", "98220 41567"),
        ("São Paulo: (11) 97413-2286", "(11) 97413-2286"),
        ("call the Tokyo office at 03-5412-8890", "03-5412-8890"),
        ("ring me on +81 90-4412-8890", "+81 90-4412-8890"),
    ] {
        assert_eq!(found_over(text, &[value]), vec![Some("phone_number")], "{text}");
    }
    for text in [
        "Your order 0312 4455 6712 has shipped",
        "ticket 020 7946 0958 is closed", // a number shape without a phone word
        "build 10.0.19045.3803",
        "list: 01 02 03 04 05",
    ] {
        assert!(Scanner::global().scan(text).is_empty(), "{text}: {:?}", Scanner::global().scan(text));
    }
}
