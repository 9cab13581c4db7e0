//! Provider payloads in the documented shapes (ENTSO-E A44 XML, Octopus, EIA, Flatpeak,
//! OpenWeatherMap), built for any day, for the loopback fakes of the provider tests.

#![allow(dead_code)]

use jiff::{SignedDuration, Timestamp};

/// `yyyyMMddHHmm` in UTC, as ENTSO-E's periodStart/periodEnd.
pub fn entsoe_period(at: Timestamp) -> String {
    at.strftime("%Y%m%d%H%M").to_string()
}

/// One TimeSeries of an A44 document: `prices[i]` is the price of position i+1; `None` omits the
/// point (with `a03`, a repeat of the previous price; with A01, a gap).
pub struct Series<'a> {
    pub start: Timestamp,
    pub minutes: u32,
    pub prices: &'a [Option<f64>],
    pub a03: bool,
    pub sequence: Option<u32>,
}

/// A `Publication_MarketDocument` (namespace 7:3) for bidding zone `eic`.
pub fn a44(eic: &str, series: &[Series<'_>]) -> String {
    let mut xml = String::from(concat!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n",
        "<Publication_MarketDocument xmlns=\"urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3\">\n",
        "  <mRID>5b1e0c2f9a7d4e3c8f6a1b2c3d4e5f60</mRID>\n  <revisionNumber>1</revisionNumber>\n  <type>A44</type>\n",
        "  <sender_MarketParticipant.mRID codingScheme=\"A01\">10X1001A1001A450</sender_MarketParticipant.mRID>\n",
        "  <sender_MarketParticipant.marketRole.type>A32</sender_MarketParticipant.marketRole.type>\n",
        "  <receiver_MarketParticipant.mRID codingScheme=\"A01\">10X1001A1001A450</receiver_MarketParticipant.mRID>\n",
        "  <receiver_MarketParticipant.marketRole.type>A33</receiver_MarketParticipant.marketRole.type>\n",
        "  <createdDateTime>2026-01-14T12:03:27Z</createdDateTime>\n"
    ));
    for (i, s) in series.iter().enumerate() {
        let end = s.start + SignedDuration::from_mins(i64::from(s.minutes) * s.prices.len() as i64);
        let t = |at: Timestamp| at.strftime("%Y-%m-%dT%H:%MZ").to_string();
        xml.push_str(&format!(
            "  <TimeSeries>\n    <mRID>{}</mRID>\n    <auction.type>A01</auction.type>\n    <businessType>A62</businessType>\n    \
             <in_Domain.mRID codingScheme=\"A01\">{eic}</in_Domain.mRID>\n    <out_Domain.mRID codingScheme=\"A01\">{eic}</out_Domain.mRID>\n    \
             <contract_MarketAgreement.type>A01</contract_MarketAgreement.type>\n    <currency_Unit.name>EUR</currency_Unit.name>\n    \
             <price_Measure_Unit.name>MWH</price_Measure_Unit.name>\n",
            i + 1
        ));
        if let Some(seq) = s.sequence {
            xml.push_str(&format!(
                "    <classificationSequence_AttributeInstanceComponent.position>{seq}</classificationSequence_AttributeInstanceComponent.position>\n"
            ));
        }
        xml.push_str(&format!(
            "    <curveType>{}</curveType>\n    <Period>\n      <timeInterval><start>{}</start><end>{}</end></timeInterval>\n      <resolution>PT{}M</resolution>\n",
            if s.a03 { "A03" } else { "A01" },
            t(s.start),
            t(end),
            s.minutes
        ));
        for (position, price) in s.prices.iter().enumerate() {
            if let Some(price) = price {
                xml.push_str(&format!(
                    "      <Point><position>{}</position><price.amount>{price}</price.amount></Point>\n",
                    position + 1
                ));
            }
        }
        xml.push_str("    </Period>\n  </TimeSeries>\n");
    }
    xml.push_str("</Publication_MarketDocument>\n");
    xml
}

/// An `Acknowledgement_MarketDocument` with reason 999 and `text`.
pub fn acknowledgement(text: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Acknowledgement_MarketDocument xmlns=\"urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0\">\n\
         <mRID>0f1b4861-0c96-4</mRID>\n<createdDateTime>2026-01-13T14:56:57Z</createdDateTime>\n\
         <sender_MarketParticipant.mRID codingScheme=\"A01\">10X1001A1001A450</sender_MarketParticipant.mRID>\n\
         <sender_MarketParticipant.marketRole.type>A32</sender_MarketParticipant.marketRole.type>\n\
         <receiver_MarketParticipant.mRID codingScheme=\"A01\">10X1001A1001A450</receiver_MarketParticipant.mRID>\n\
         <receiver_MarketParticipant.marketRole.type>A39</receiver_MarketParticipant.marketRole.type>\n\
         <received_MarketDocument.createdDateTime>2026-01-13T14:56:57Z</received_MarketDocument.createdDateTime>\n\
         <Reason>\n<code>999</code>\n<text>{text}</text>\n</Reason>\n</Acknowledgement_MarketDocument>\n"
    )
}

/// A plausible price for position `i` of a day (with a negative hour at noon).
pub fn day_price(i: usize, per_day: usize) -> f64 {
    let hour = (i * 24) / per_day;
    match hour {
        12 => -1.5,
        17..=20 => 140.25 + i as f64,
        _ => 60.5 + (i % 7) as f64,
    }
}

/// Octopus `standard-unit-rates` results (newest first) for half-hours from `start`.
pub fn octopus_results(start: Timestamp, slots: usize) -> Vec<serde_json::Value> {
    let mut out: Vec<serde_json::Value> = (0..slots)
        .map(|i| {
            let from = start + SignedDuration::from_mins(30 * i as i64);
            let to = from + SignedDuration::from_mins(30);
            let exc = 15.0 + (i % 10) as f64 * 1.5;
            serde_json::json!({
                "value_exc_vat": exc,
                "value_inc_vat": (exc * 1.05 * 1e4).round() / 1e4,
                "valid_from": from.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "valid_to": to.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "payment_method": null
            })
        })
        .collect();
    out.reverse();
    out
}
