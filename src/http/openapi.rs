//! The OpenAPI document made exact where the route annotations cannot say it once for all:
//! region parameters as the closed set of codes, the error statuses every request can meet at
//! the edge (bad query 400, connection caps 429/503, the deadline 503; for bodies 408, 413, 415
//! and 422; a disabled region 404), each with the error schema. Generated clients and contract
//! testers (schemathesis in `.ci/run`) then see what the server really does.

use serde_json::{Value, json};
use wattline_actors::domain::schedule::request::MAX_APPLIANCES;
use wattline_actors::domain::{Region, Source};

/// The older upper-case codes the ML routes take too (see `compat.rs`).
const OLDER_ML_CODES: [&str; 4] = ["UK", "GERMANY", "FRANCE", "SPAIN"];

/// Request bodies whose `region` may use the older codes.
/// Request fields the older API spelled differently: (schema, older name, our name).
const OLDER_SPELLINGS: [(&str, &str, &str); 3] = [
    ("PredictPriceRequest", "hours_ahead", "hours"),
    ("OptimalTimesRequest", "num_slots", "count"),
    ("ApplianceRequest", "latest_end", "deadline"),
];

const ML_BODIES: [&str; 3] = [
    "PredictPriceRequest",
    "OptimalTimesRequest",
    "ScheduleRequest",
];

/// The generated document, completed.
pub fn exact(doc: &utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(doc).expect("the OpenAPI document serialises");
    let codes: Vec<&str> = Region::codes().collect();
    let ml_codes: Vec<&str> = codes.iter().copied().chain(OLDER_ML_CODES).collect();
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for operation in item.values_mut() {
                complete_operation(path, operation, &codes, &ml_codes);
            }
        }
    }
    let schemas = &mut doc["components"]["schemas"];
    for name in ML_BODIES {
        if let Some(region) = schemas[name]["properties"].get_mut("region") {
            region["enum"] = json!(ml_codes);
        }
    }
    // Older spellings are serde aliases, which utoipa does not see; with unknown fields refused
    // the document would forbid them, so each is declared beside the field it stands for.
    for (schema, older, ours) in OLDER_SPELLINGS {
        let properties = &mut schemas[schema]["properties"];
        if let Some(mut property) = properties.get(ours).cloned() {
            property["description"] = json!(format!(
                "The older spelling of `{ours}` (send one of the two)."
            ));
            properties[older] = property;
        }
    }
    if let Some(appliances) = schemas["ScheduleRequest"]["properties"].get_mut("appliances") {
        appliances["minItems"] = json!(1);
        appliances["maxItems"] = json!(MAX_APPLIANCES);
    }
    doc
}

fn complete_operation(path: &str, operation: &mut Value, codes: &[&str], ml_codes: &[&str]) {
    let mut has_region = false;
    if let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    {
        for parameter in parameters {
            if parameter["in"] != "query" {
                continue;
            }
            if parameter["name"] == "supplier" {
                // Market prices have no supplier: only the empty value is taken.
                parameter["schema"]["maxLength"] = json!(0);
                continue;
            }
            if parameter["name"] == "source" {
                parameter["schema"]["enum"] = json!(Source::ALL.map(Source::as_str));
                continue;
            }
            if parameter["name"] != "region" {
                continue;
            }
            has_region = true;
            if path.ends_with("/stream") {
                // One region or several, comma separated.
                let one = format!("({})", codes.join("|"));
                parameter["schema"]["pattern"] = json!(format!("^{one}(,{one})*$"));
            } else if path.starts_with("/api/v1/ml/") {
                parameter["schema"]["enum"] = json!(ml_codes);
            } else {
                parameter["schema"]["enum"] = json!(codes);
            }
        }
    }
    let has_body = operation.get("requestBody").is_some();
    let mut statuses = vec![
        ("400", "Bad query, or a request HTTP/1.1 cannot parse"),
        (
            "429",
            "Too many open connections (or streams) from this address",
        ),
        (
            "503",
            "Not available now: the request deadline, the node's connection cap, a region not ready",
        ),
    ];
    if has_body {
        statuses.extend([
            ("408", "The request body stalled"),
            ("413", "The request body is larger than the limit"),
            ("415", "The request body is not JSON"),
            ("422", "The body is JSON but a field is missing or invalid"),
        ]);
    }
    if has_region || has_body {
        statuses.push(("404", "The region is not enabled on this server"));
    }
    let responses = operation["responses"]
        .as_object_mut()
        .expect("every operation has responses");
    for (status, description) in statuses {
        responses.entry(status).or_insert_with(|| {
            json!({
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_parameters_become_the_closed_set_and_errors_are_documented() {
        let (_, doc) = crate::http::api();
        let doc = exact(&doc);
        let current = &doc["paths"]["/api/v1/prices/current"]["get"];
        let region = current["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "region")
            .unwrap();
        assert_eq!(region["schema"]["enum"].as_array().unwrap().len(), 14);
        for status in ["400", "404", "429", "503"] {
            assert!(current["responses"].get(status).is_some(), "{status}");
        }
        let predict = &doc["paths"]["/api/v1/ml/predict/price"]["post"];
        for status in ["408", "413", "415", "422"] {
            assert!(predict["responses"].get(status).is_some(), "{status}");
        }
        for (schema, older, ours) in OLDER_SPELLINGS {
            let properties = &doc["components"]["schemas"][schema]["properties"];
            assert!(properties.get(ours).is_some(), "{schema}.{ours}");
            assert!(properties.get(older).is_some(), "{schema}.{older}");
        }
        let body_region =
            &doc["components"]["schemas"]["PredictPriceRequest"]["properties"]["region"];
        assert!(
            body_region["enum"]
                .as_array()
                .unwrap()
                .contains(&json!("UK"))
        );
    }
}
