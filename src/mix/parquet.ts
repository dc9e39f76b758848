import { DuckDBInstance } from "@duckdb/node-api";

/** The Parquet schema of a chat row: `messages` keeps its nested type, a list of structs. */
export const chatRowColumns = {
  messages: "STRUCT(role VARCHAR, content VARCHAR)[]",
  source: "VARCHAR",
  prompt_id: "VARCHAR",
} as const;

/**
 * Convert a chat-format JSONL file to Parquet with DuckDB (streamed by DuckDB, zstd-compressed). The
 * column types are given, not sniffed, so an empty file still gets the full schema.
 */
export async function jsonlToParquet(jsonl: string, parquet: string): Promise<void> {
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  try {
    const columns = Object.entries(chatRowColumns)
      .map(([name, type]) => `${name}: '${type}'`)
      .join(", ");
    await connection.run(
      `COPY (SELECT * FROM read_json(${quote(jsonl)}, format = 'newline_delimited', columns = {${columns}})) ` +
        `TO ${quote(parquet)} (FORMAT parquet, COMPRESSION zstd)`,
    );
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** A SQL string literal. */
export function quote(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
