//! CSV (RFC 4180) from the JSON the list endpoints serialise, so a spreadsheet gets the same
//! rows as the API without a second set of row types.
//!
//! Columns follow the rows' own field order (serde_json's `preserve_order` keeps a struct's field
//! order in a `Value`), so the first columns are the key ones (ip, exporter, ...) as in the JSON.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// `rows` is a JSON array of objects. The header is the union of the rows' keys in first-seen
/// order; a key a row lacks is an empty cell. Nested objects are flattened to `parent.child`
/// columns; arrays are written as their JSON text in one cell; null is an empty cell.
///
/// No rows, or rows without a single key, give an empty body (not even a header line): with no
/// rows there are no column names to write, and an empty line would read as one empty record.
///
/// Two paths naming the same column (a key `"a.b"` beside an object `a` holding `b`) share it;
/// the later one in the row wins.
pub fn encode(rows: &Value) -> Result<Vec<u8>, String> {
    let Value::Array(rows) = rows else { return Err("CSV needs an array of rows".into()) };
    let mut header: Vec<String> = Vec::new();
    let mut column: HashMap<String, usize> = HashMap::new();
    let mut cells: Vec<Vec<(usize, &Value)>> = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let Value::Object(obj) = row else { return Err(format!("row {i} is not an object")) };
        let mut flat = Vec::new();
        flatten(obj, &mut String::new(), &mut flat);
        let mut out = Vec::with_capacity(flat.len());
        for (key, v) in flat {
            let col = *column.entry(key).or_insert_with_key(|k| {
                header.push(k.clone());
                header.len() - 1
            });
            out.push((col, v));
        }
        cells.push(out);
    }
    let mut csv = Vec::new();
    if header.is_empty() {
        return Ok(csv);
    }
    let mut line: Vec<Option<&Value>> = Vec::with_capacity(header.len());
    for (i, name) in header.iter().enumerate() {
        if i > 0 {
            csv.push(b',');
        }
        field(&mut csv, name);
    }
    csv.extend_from_slice(b"\r\n");
    for row in &cells {
        line.clear();
        line.resize(header.len(), None);
        for &(col, v) in row {
            line[col] = Some(v);
        }
        for (i, v) in line.iter().enumerate() {
            if i > 0 {
                csv.push(b',');
            }
            match v {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => field(&mut csv, &inert(s)),
                Some(Value::Bool(b)) => csv.extend_from_slice(if *b { b"true" } else { b"false" }),
                Some(Value::Number(n)) => csv.extend_from_slice(n.to_string().as_bytes()),
                // Arrays (and only arrays: objects were flattened) keep their JSON text.
                Some(other) => field(&mut csv, &other.to_string()),
            }
        }
        csv.extend_from_slice(b"\r\n");
    }
    Ok(csv)
}

/// Leaf values of `obj` under `prefix`, in the object's order. An empty nested object has no
/// leaves and so no column.
fn flatten<'a>(obj: &'a Map<String, Value>, prefix: &mut String, out: &mut Vec<(String, &'a Value)>) {
    for (k, v) in obj {
        let len = prefix.len();
        if len > 0 {
            prefix.push('.');
        }
        prefix.push_str(k);
        match v {
            Value::Object(inner) => flatten(inner, prefix, out),
            _ => out.push((prefix.clone(), v)),
        }
        prefix.truncate(len);
    }
}

/// One field, quoted when it holds a separator, a quote or a line break (RFC 4180 section 2,
/// rules 5-7), with quotes doubled.
fn field(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n')) {
        out.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// A text cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first: OWASP's
/// CSV injection list) gets a leading `'`, which spreadsheets show as text. Interface names come
/// from exporters' options data, so a sender on the LAN could otherwise plant
/// `=HYPERLINK(...)` in a user's spreadsheet. Numbers are written as numbers and never touched.
fn inert(s: &str) -> std::borrow::Cow<'_, str> {
    match s.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{s}").into(),
        _ => s.into(),
    }
}

/// Longest list name kept in a file name; the header stays short whatever is asked.
const MAX_NAME: usize = 48;

/// A `Content-Disposition` value saving the list as `flowpi-NAME.csv`. The name is lower-cased
/// and every character outside `[a-z0-9-_]` becomes `-`, so nothing from a request can break out
/// of the quoted file name or the header.
pub fn disposition(name: &str) -> String {
    let clean: String = name
        .chars()
        .take(MAX_NAME)
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' { c } else { '-' })
        .collect();
    if clean.is_empty() {
        "attachment; filename=\"flowpi.csv\"".into()
    } else {
        format!("attachment; filename=\"flowpi-{clean}.csv\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use serde_json::json;

    fn csv(v: Value) -> String {
        String::from_utf8(encode(&v).unwrap()).unwrap()
    }

    #[test]
    fn fields_that_need_it_are_quoted_with_quotes_doubled() {
        let got = csv(json!([
            {"name": "plain", "v": 1},
            {"name": "a,b", "v": 2},
            {"name": "say \"hi\"", "v": 3},
            {"name": "two\nlines", "v": 4},
            {"name": "cr\rhere", "v": 5},
            {"name": "", "v": 6},
            {"name": " spaced ", "v": 7},
        ]));
        assert_eq!(
            got,
            "name,v\r\nplain,1\r\n\"a,b\",2\r\n\"say \"\"hi\"\"\",3\r\n\"two\nlines\",4\r\n\"cr\rhere\",5\r\n,6\r\n spaced ,7\r\n"
        );
    }

    #[test]
    fn columns_follow_struct_field_order() {
        // Not alphabetical: a sorted map would put rx_bytes before ip and tx_bytes.
        #[derive(Serialize)]
        struct Row {
            ip: &'static str,
            tx_bytes: u64,
            rx_bytes: u64,
            active: bool,
            name: Option<&'static str>,
            ratio: f64,
            delta: i64,
        }
        let rows = vec![
            Row {
                ip: "192.168.1.10",
                tx_bytes: 1_700,
                rx_bytes: 50_000,
                active: true,
                name: None,
                ratio: 0.5,
                delta: -3,
            },
            Row { ip: "other", tx_bytes: 0, rx_bytes: u64::MAX, active: false, name: Some("x"), ratio: 2.0, delta: 0 },
        ];
        let got = csv(serde_json::to_value(&rows).unwrap());
        assert_eq!(
            got,
            "ip,tx_bytes,rx_bytes,active,name,ratio,delta\r\n\
             192.168.1.10,1700,50000,true,,0.5,-3\r\n\
             other,0,18446744073709551615,false,x,2.0,0\r\n"
        );
    }

    #[test]
    fn header_is_the_union_of_keys_in_first_seen_order() {
        let got = csv(json!([
            {"b": 1, "a": 2},
            {"a": 3, "c": 4},
            {"d": null},
            {"c": 5, "b": 6, "e": "last"},
        ]));
        assert_eq!(got, "b,a,c,d,e\r\n1,2,,,\r\n,3,4,,\r\n,,,,\r\n6,,5,,last\r\n");
    }

    #[test]
    fn nested_objects_are_flattened_and_arrays_kept_as_json() {
        let got = csv(json!([
            {"ip": "10.0.0.1", "host": {"rx": 1, "where": {"site": "a,b"}}, "peers": [{"ip": "1.1.1.1"}, 2], "empty": {}},
            {"ip": "10.0.0.2", "peers": [], "host": {"tx": 9}},
        ]));
        assert_eq!(
            got,
            "ip,host.rx,host.where.site,peers,host.tx\r\n\
             10.0.0.1,1,\"a,b\",\"[{\"\"ip\"\":\"\"1.1.1.1\"\"},2]\",\r\n\
             10.0.0.2,,,[],9\r\n"
        );
    }

    #[test]
    fn no_rows_or_no_keys_give_an_empty_body() {
        assert_eq!(encode(&json!([])).unwrap(), b"");
        assert_eq!(encode(&json!([{}, {"x": {}}])).unwrap(), b"");
    }

    #[test]
    fn anything_but_an_array_of_objects_is_refused() {
        for v in [json!({"a": 1}), json!(null), json!("rows"), json!(3), json!([{"a": 1}, 2]), json!([[1]])] {
            assert!(encode(&v).is_err(), "{v}");
        }
    }

    #[test]
    fn the_same_column_from_two_paths_is_one_column() {
        assert_eq!(csv(json!([{"a.b": 1, "a": {"b": 2}}])), "a.b\r\n2\r\n");
    }

    #[test]
    fn file_names_are_sanitised() {
        assert_eq!(disposition("hosts"), "attachment; filename=\"flowpi-hosts.csv\"");
        assert_eq!(disposition("Top_Ports-2"), "attachment; filename=\"flowpi-top_ports-2.csv\"");
        assert_eq!(disposition("a\"; x=\r\n/../é"), "attachment; filename=\"flowpi-a---x--------.csv\"");
        assert_eq!(disposition(""), "attachment; filename=\"flowpi.csv\"");
        assert_eq!(disposition(&"x".repeat(1000)).len(), "attachment; filename=\"flowpi-.csv\"".len() + MAX_NAME);
    }

    #[test]
    fn formulas_in_text_cells_are_made_inert() {
        let rows =
            serde_json::json!([{"name": "=HYPERLINK(\"http://x\")", "n": -1}, {"name": "@SUM(A1)"}, {"name": "wan"}]);
        let text = String::from_utf8(encode(&rows).unwrap()).unwrap();
        assert_eq!(text, "name,n\r\n\"'=HYPERLINK(\"\"http://x\"\")\",-1\r\n'@SUM(A1),\r\nwan,\r\n");
    }
}
