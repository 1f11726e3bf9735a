// Glue tables (typed + <table>_raw) and Athena named queries from the single source of truth,
// infra/athena/tables.json and infra/athena/queries/*.sql - the same definitions that
// scripts/athena_check.py generates into infra/template.yaml (same logical ids, same properties;
// scripts/infra_check.py compares the two synthesized stacks).
import * as fs from 'fs';
import * as path from 'path';
import { Aws, CfnCondition, Fn, Token } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as glue from 'aws-cdk-lib/aws-glue';
import { Construct } from 'constructs';

export const ATHENA_DIR = path.resolve(__dirname, '..', '..', 'athena');

interface Column {
  name: string;
  type: string;
  comment?: string;
  json_key?: string;
}
interface TableSpec {
  name: string;
  description: string;
  columns: Column[];
  excluded: Record<string, string>;
}
interface Serde {
  library: string;
  parameters: Record<string, string>;
}
interface Spec {
  partition_key: Column;
  json_serde: Serde;
  raw_serde: Serde & { column: Column };
  input_format: string;
  output_format: string;
  ingest_column: Column;
  tables: TableSpec[];
}

export interface NamedQuerySpec {
  name: string;
  description: string;
  sql: string;
}

export function loadSpec(): Spec {
  return JSON.parse(fs.readFileSync(path.join(ATHENA_DIR, 'tables.json'), 'utf8')) as Spec;
}

export function loadQueries(): NamedQuerySpec[] {
  const dir = path.join(ATHENA_DIR, 'queries');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.sql') && !f.endsWith('.duckdb.sql'))
    .sort()
    .map((f) => {
      const sql = fs.readFileSync(path.join(dir, f), 'utf8').trim() + '\n';
      const m = /^--\s*description:\s*(.+)$/m.exec(sql);
      if (!m) throw new Error(`${f}: first comment line must be '-- description: ...'`);
      return { name: f.slice(0, -'.sql'.length), description: m[1].trim(), sql };
    });
}

export function camel(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter((p) => p)
    .map((p) => p[0].toUpperCase() + p.slice(1))
    .join('');
}

export interface AthenaProps {
  readonly database: glue.CfnDatabase;
  readonly workGroup: athena.CfnWorkGroup;
  readonly hasLakePrefix: CfnCondition;
}

/** Adds every Glue table and named query to `scope` (logical ids as in infra/template.yaml). */
export function addAthenaDefinitions(scope: Construct, props: AthenaProps): void {
  const spec = loadSpec();
  const pk = spec.partition_key.name;
  const location = (table: string, suffix = ''): string =>
    Token.asString(Fn.conditionIf(
      props.hasLakePrefix.logicalId,
      Fn.sub(`s3://\${LakeBucket}/\${LakePrefix}/${table}/${suffix}`),
      Fn.sub(`s3://\${LakeBucket}/${table}/${suffix}`),
    ));
  const table = (id: string, name: string, description: string, columns: Column[], serde: Serde, locTable: string) => {
    const t = new glue.CfnTable(scope, id, {
      catalogId: Aws.ACCOUNT_ID,
      databaseName: props.database.ref,
      tableInput: {
        name,
        description,
        tableType: 'EXTERNAL_TABLE',
        parameters: {
          classification: 'json',
          compressionType: 'gzip',
          typeOfData: 'file',
          'projection.enabled': 'true',
          [`projection.${pk}.type`]: 'date',
          [`projection.${pk}.format`]: 'yyyy-MM-dd',
          [`projection.${pk}.range`]: Fn.sub('${PartitionProjectionStart},NOW'),
          [`projection.${pk}.interval`]: '1',
          [`projection.${pk}.interval.unit`]: 'DAYS',
          // ${!dt} is Fn::Sub's escape for a literal ${dt}: Athena fills it in per projected partition.
          'storage.location.template': location(locTable, `${pk}=\${!${pk}}/`),
        },
        partitionKeys: [{ name: pk, type: spec.partition_key.type, comment: spec.partition_key.comment }],
        storageDescriptor: {
          columns: columns.map((c) => ({ name: c.name, type: c.type, comment: c.comment })),
          location: location(locTable),
          inputFormat: spec.input_format,
          outputFormat: spec.output_format,
          serdeInfo: { serializationLibrary: serde.library, parameters: serde.parameters },
        },
      },
    });
    t.overrideLogicalId(id);
  };
  for (const t of spec.tables) {
    const cols = [...t.columns, spec.ingest_column];
    const params: Record<string, string> = { ...spec.json_serde.parameters };
    for (const c of cols) {
      if (c.json_key && c.json_key !== c.name) params[`mapping.${c.name}`] = c.json_key;
    }
    table(`GlueTable${camel(t.name)}`, t.name, t.description, cols, { library: spec.json_serde.library, parameters: params }, t.name);
    table(
      `GlueTable${camel(t.name)}Raw`,
      `${t.name}_raw`,
      `${t.name}, one row per JSON line (column \`line\`): for fields that are not columns of ${t.name}.`,
      [spec.raw_serde.column],
      { library: spec.raw_serde.library, parameters: spec.raw_serde.parameters },
      t.name,
    );
  }
  for (const q of loadQueries()) {
    const id = `NamedQuery${camel(q.name)}`;
    const nq = new athena.CfnNamedQuery(scope, id, {
      name: q.name,
      description: q.description,
      database: props.database.ref,
      workGroup: props.workGroup.ref,
      queryString: q.sql,
    });
    nq.overrideLogicalId(id);
  }
}
