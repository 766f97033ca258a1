//! Items of the `GDAL_METADATA` TIFF tag that GDAL leaves as one XML string
//! (as in FMI radar composites: `<Item name="Gain">0.5</Item>`).

use quick_xml::Reader;
use quick_xml::events::Event;

/// `(name, value)` of every `<Item name="…">value</Item>`, in order.
pub fn items(xml: &str) -> Vec<(String, String)> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    let mut name: Option<String> = None;
    let mut text = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) if e.name().as_ref() == b"Item" => {
                name = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.as_ref() == b"name")
                    .and_then(|a| String::from_utf8(a.value.into_owned()).ok());
                text.clear();
            }
            Ok(Event::Text(t)) if name.is_some() => {
                if let Ok(s) = std::str::from_utf8(t.as_ref()) {
                    text.push_str(s);
                }
            }
            Ok(Event::End(e)) if e.name().as_ref() == b"Item" => {
                if let Some(n) = name.take() {
                    out.push((n, text.trim().to_string()));
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fmi_style_items() {
        let xml = r#"<GDALMetadata>
<Item name="Observation time" format="YYYYMMDDhhmm">201609281600</Item>
<Item name="Gain">0.500000</Item>
<Item name="Offset">-32.000000</Item>
</GDALMetadata>"#;
        assert_eq!(
            items(xml),
            vec![
                ("Observation time".to_string(), "201609281600".to_string()),
                ("Gain".to_string(), "0.500000".to_string()),
                ("Offset".to_string(), "-32.000000".to_string()),
            ]
        );
        assert!(items("not xml <").is_empty());
    }
}
