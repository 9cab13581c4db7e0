//! Test support: which tables of a database still hold any of some strings (an erased user's
//! email and id), read straight from the schema so a table added later is searched too.

use sqlx::{AssertSqlSafe, Connection, Row};

/// `table: needle` for every table (migrations' own aside) holding a needle in any column.
pub async fn tables_mentioning(database_url: &str, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    if database_url.starts_with("sqlite:") {
        let mut db = sqlx::SqliteConnection::connect(database_url).await.unwrap();
        let tables: Vec<String> = sqlx::query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_sqlx%' ESCAPE '\\' AND name NOT LIKE 'sqlite%'",
        )
        .fetch_all(&mut db)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
        for table in tables {
            let columns: Vec<String> = sqlx::query(AssertSqlSafe(format!(
                "SELECT name FROM pragma_table_info('{table}')"
            )))
            .fetch_all(&mut db)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
            for needle in needles {
                let any = columns
                    .iter()
                    .map(|c| format!("instr(CAST(\"{c}\" AS TEXT), ?1) > 0"))
                    .collect::<Vec<_>>()
                    .join(" OR ");
                let hits: i64 = sqlx::query(AssertSqlSafe(format!(
                    "SELECT count(*) FROM \"{table}\" WHERE {any}"
                )))
                .bind(*needle)
                .fetch_one(&mut db)
                .await
                .unwrap()
                .get(0);
                if hits > 0 {
                    found.push(format!("{table}: {needle}"));
                }
            }
        }
    } else {
        let mut db = sqlx::PgConnection::connect(database_url).await.unwrap();
        let tables: Vec<String> = sqlx::query(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             AND table_name NOT LIKE '\\_sqlx%'",
        )
        .fetch_all(&mut db)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
        for table in tables {
            for needle in needles {
                let hits: i64 = sqlx::query(AssertSqlSafe(format!(
                    "SELECT count(*) FROM \"{table}\" t WHERE strpos(t::text, $1) > 0"
                )))
                .bind(*needle)
                .fetch_one(&mut db)
                .await
                .unwrap()
                .get(0);
                if hits > 0 {
                    found.push(format!("{table}: {needle}"));
                }
            }
        }
    }
    found
}
