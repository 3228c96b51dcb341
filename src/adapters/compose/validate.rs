//! Checks an edited compose text against the original before it may replace the file: it must
//! parse, the postgres service must have the new image and the qdrant service and volume must
//! exist, and every other service and top-level key must be unchanged (compared as parsed YAML,
//! so only what the upgrade meant to touch can differ).
use saphyr::YamlOwned;

use super::{ComposeError, PgvectorEdit, reader};

/// Validates `edited` against `original`; the error says what differs.
pub fn validate_edit(
    original: &str,
    edited: &str,
    edit: &PgvectorEdit,
) -> Result<(), ComposeError> {
    let before = reader::load_yaml(original)?;
    let after = reader::load_yaml(edited)
        .map_err(|e| ComposeError::Validation(format!("it does not parse: {e}")))?;
    let fail = |m: String| Err(ComposeError::Validation(m));

    let services = |doc: &YamlOwned| {
        doc.as_mapping_get("services")
            .and_then(|s| s.as_mapping())
            .cloned()
    };
    let (Some(s_before), Some(s_after)) = (services(&before), services(&after)) else {
        return fail("`services:` is missing".into());
    };

    let image = s_after
        .get(&key(&edit.postgres_service))
        .and_then(|s| s.as_mapping_get("image"))
        .and_then(reader::scalar_string);
    if image.as_deref() != Some(edit.postgres_image.as_str()) {
        return fail(format!(
            "service {} has image {:?}, expected {}",
            edit.postgres_service, image, edit.postgres_image
        ));
    }
    let Some(qdrant) = s_after.get(&key(&edit.qdrant_service)) else {
        return fail(format!("service {} is missing", edit.qdrant_service));
    };
    if qdrant
        .as_mapping_get("image")
        .and_then(reader::scalar_string)
        .is_none()
    {
        return fail(format!("service {} has no image", edit.qdrant_service));
    }
    let has_volume = after
        .as_mapping_get("volumes")
        .and_then(|v| v.as_mapping())
        .is_some_and(|m| m.contains_key(&key(&edit.qdrant_volume)));
    if !has_volume {
        return fail(format!(
            "top-level volume {} is missing",
            edit.qdrant_volume
        ));
    }

    for (name, def) in &s_before {
        let label = reader::scalar_string(name).unwrap_or_default();
        let Some(new_def) = s_after.get(name) else {
            return fail(format!("service {label} disappeared"));
        };
        if label == edit.postgres_service {
            if without_image(def) != without_image(new_def) {
                return fail(format!("service {label} changed beyond its image"));
            }
        } else if def != new_def {
            return fail(format!("service {label} changed"));
        }
    }
    for (name, _) in &s_after {
        let label = reader::scalar_string(name).unwrap_or_default();
        if !s_before.contains_key(name) && label != edit.qdrant_service {
            return fail(format!("unexpected new service {label}"));
        }
    }

    // Top-level keys other than services and volumes must be identical; volumes may only gain
    // the qdrant volume.
    let (Some(top_before), Some(top_after)) = (before.as_mapping(), after.as_mapping()) else {
        return fail("top level is not a mapping".into());
    };
    for (k, v) in top_before {
        let label = reader::scalar_string(k).unwrap_or_default();
        match label.as_str() {
            "services" => {}
            "volumes" => {
                let mut trimmed = top_after
                    .get(k)
                    .and_then(|v| v.as_mapping())
                    .cloned()
                    .unwrap_or_default();
                trimmed.remove(&key(&edit.qdrant_volume));
                if v.as_mapping().cloned().unwrap_or_default() != trimmed {
                    return fail("top-level volumes changed beyond the qdrant volume".into());
                }
            }
            _ if top_after.get(k) != Some(v) => {
                return fail(format!("top-level `{label}` changed"));
            }
            _ => {}
        }
    }
    Ok(())
}

fn key(s: &str) -> YamlOwned {
    YamlOwned::Value(saphyr::ScalarOwned::String(s.to_string()))
}

fn without_image(def: &YamlOwned) -> Option<saphyr::MappingOwned> {
    let mut m = def.as_mapping()?.clone();
    m.remove(&key("image"));
    Some(m)
}
