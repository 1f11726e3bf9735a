// Glue tables (typed + <table>_raw) and Athena named queries from the single source of truth,
// infra/athena/tables.json and infra/athena/queries/*.sql - the same definitions that
// scripts/athena_check.py generates into infra/template.yaml (same logical ids, same properties;
// scripts/infra_check.py compares the two synthesized stacks).
import * as fs from 'fs';
import * as path from 'path';
import { Aws, CfnCondition, Fn, Token } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export const ATHENA_DIR = path.resolve(__dirname, '..', '..', 'athena');

interface Column {
  name: string;
  type: string;
  comment?: string;
  json_key?: string;
}
interface PartitionKey extends Column {
  projection: { type: string; values: string };
}
interface TableSpec {
  name: string;
  description: string;
  access: string;
  columns: Column[];
  excluded: Record<string, string>;
  location?: string;
  partition_keys?: PartitionKey[];
  compressed?: boolean;
  raw?: boolean;
  ingest?: boolean;
}
interface ViewSpec {
  name: string;
  description: string;
  access: string;
  columns: Column[];
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
  views?: ViewSpec[];
}

// Hive (Glue column) type -> the Trino type Athena records in a view definition (as scripts/athena_check.py).
const TRINO_TYPES: Record<string, string> = {
  string: 'varchar', bigint: 'bigint', int: 'integer', boolean: 'boolean', double: 'double',
  timestamp: 'timestamp(3)', date: 'date',
};

/** A view's SQL as Athena stores it: infra/athena/views/<name>.sql without its leading comment lines. */
export function loadViewSql(name: string): string {
  const lines = fs.readFileSync(path.join(ATHENA_DIR, 'views', `${name}.sql`), 'utf8').trim().split('\n');
  while (lines.length && lines[0].startsWith('--')) lines.shift();
  return lines.join('\n').trim() + '\n';
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

export const DASHBOARD_JSON = path.resolve(__dirname, '..', '..', 'cloudwatch', 'dashboard.json');

/** infra/cloudwatch/dashboard.json as the Fn::Sub string of DashboardBody (as scripts/athena_check.py). */
export function dashboardBody(): string {
  const body = JSON.parse(fs.readFileSync(DASHBOARD_JSON, 'utf8'));
  delete body.$comment;
  return JSON.stringify(body).replace(/"\$\{Number:([A-Za-z0-9]+)\}"/g, '${$1}');
}

// Reader classes: managed policy and Athena workgroup logical ids (as scripts/athena_check.py READERS).
const READERS: Record<string, [string, string]> = {
  audit: ['AuditReaderPolicy', 'AthenaAuditWorkGroup'],
  content: ['ContentReaderPolicy', 'AthenaContentWorkGroup'],
};

/** Adds every Glue table and named query to `scope` (logical ids as in infra/template.yaml). */
export function addAthenaDefinitions(scope: Construct, props: AthenaProps): void {
  const spec = loadSpec();
  const pk = spec.partition_key.name;
  const location = (prefix: string, suffix = ''): string =>
    Token.asString(Fn.conditionIf(
      props.hasLakePrefix.logicalId,
      Fn.sub(`s3://\${LakeBucket}/\${LakePrefix}/${prefix}/${suffix}`),
      Fn.sub(`s3://\${LakeBucket}/${prefix}/${suffix}`),
    ));
  const table = (id: string, name: string, description: string, columns: Column[], serde: Serde, t: TableSpec) => {
    const prefix = t.location ?? t.name;
    const extra = t.partition_keys ?? [];
    const parameters: Record<string, string> = {
      classification: 'json',
      compressionType: t.compressed === false ? 'none' : 'gzip',
      typeOfData: 'file',
      'projection.enabled': 'true',
    };
    let keyPath = '';
    for (const k of extra) {
      parameters[`projection.${k.name}.type`] = k.projection.type;
      parameters[`projection.${k.name}.values`] = k.projection.values;
      keyPath += `\${!${k.name}}/`;
    }
    Object.assign(parameters, {
      [`projection.${pk}.type`]: 'date',
      [`projection.${pk}.format`]: 'yyyy-MM-dd',
      [`projection.${pk}.range`]: Fn.sub('${PartitionProjectionStart},NOW'),
      [`projection.${pk}.interval`]: '1',
      [`projection.${pk}.interval.unit`]: 'DAYS',
      // ${!dt} is Fn::Sub's escape for a literal ${dt}: Athena fills it in per projected partition.
      'storage.location.template': location(prefix, `${keyPath}${pk}=\${!${pk}}/`),
    });
    const c = new glue.CfnTable(scope, id, {
      catalogId: Aws.ACCOUNT_ID,
      databaseName: props.database.ref,
      tableInput: {
        name,
        description,
        tableType: 'EXTERNAL_TABLE',
        parameters,
        partitionKeys: [...extra, spec.partition_key].map((k) => ({ name: k.name, type: k.type, comment: k.comment })),
        storageDescriptor: {
          columns: columns.map((col) => ({ name: col.name, type: col.type, comment: col.comment })),
          location: location(prefix),
          inputFormat: spec.input_format,
          outputFormat: spec.output_format,
          serdeInfo: { serializationLibrary: serde.library, parameters: serde.parameters },
        },
      },
    });
    c.overrideLogicalId(id);
  };
  for (const t of spec.tables) {
    const cols = [...t.columns, ...(t.ingest === false ? [] : [spec.ingest_column])];
    const params: Record<string, string> = { ...spec.json_serde.parameters };
    for (const c of cols) {
      if (c.json_key && c.json_key !== c.name) params[`mapping.${c.name}`] = c.json_key;
    }
    table(`GlueTable${camel(t.name)}`, t.name, t.description, cols, { library: spec.json_serde.library, parameters: params }, t);
    if (t.raw !== false) {
      table(
        `GlueTable${camel(t.name)}Raw`,
        `${t.name}_raw`,
        `${t.name}, one row per JSON line (column \`line\`): for fields that are not columns of ${t.name}.`,
        [spec.raw_serde.column],
        { library: spec.raw_serde.library, parameters: spec.raw_serde.parameters },
        t,
      );
    }
  }
  // Views: Glue VIRTUAL_VIEW tables in the "Presto View" encoding Athena writes itself; the database
  // name is filled in by Fn::Sub inside the base64 (JSON.stringify of the same object as the Python side).
  for (const v of spec.views ?? []) {
    const id = `GlueView${camel(v.name)}`;
    const definition = JSON.stringify({
      originalSql: loadViewSql(v.name),
      catalog: 'awsdatacatalog',
      schema: '${GlueDatabase}',
      columns: v.columns.map((c) => ({ name: c.name, type: TRINO_TYPES[c.type] })),
    });
    const view = new glue.CfnTable(scope, id, {
      catalogId: Aws.ACCOUNT_ID,
      databaseName: props.database.ref,
      tableInput: {
        name: v.name,
        description: v.description,
        tableType: 'VIRTUAL_VIEW',
        parameters: { presto_view: 'true', comment: 'Presto View' },
        viewOriginalText: Fn.join('', ['/* Presto View: ', Fn.base64(Fn.sub(definition)), ' */']),
        viewExpandedText: '/* Presto View */',
        storageDescriptor: {
          columns: v.columns.map((c) => ({ name: c.name, type: c.type, comment: c.comment })),
        },
      },
    });
    view.overrideLogicalId(id);
  }
  // Reader policies and the lake bucket policy: S3 reads by the prefixes, Glue reads of the tables of
  // each access class in tables.json.
  const byAccess = (access: string): [string[], string[]] => {
    const prefixes: string[] = [];
    const names: string[] = [];
    for (const t of spec.tables) {
      if (t.access !== access) continue;
      prefixes.push(t.location ?? t.name);
      names.push(t.name);
      if (t.raw !== false) names.push(`${t.name}_raw`);
    }
    for (const v of spec.views ?? []) if (v.access === access) names.push(v.name);
    return [prefixes, names];
  };
  const lakeObjects = (prefixes: string[]) => Fn.conditionIf(
    props.hasLakePrefix.logicalId,
    prefixes.map((p) => Fn.sub(`\${LakeBucket.Arn}/\${LakePrefix}/${p}/*`)),
    prefixes.map((p) => Fn.sub(`\${LakeBucket.Arn}/${p}/*`)),
  );
  const arn = (service: string, resource: string) => Fn.sub(`arn:\${AWS::Partition}:${service}:\${AWS::Region}:\${AWS::AccountId}:${resource}`);
  const what: Record<string, string> = {
    audit: 'audit data (directory, activities, commit log)',
    content: 'content (chats, messages, projects, files, DLP findings)',
  };
  for (const [access, [policyId, workGroupId]] of Object.entries(READERS)) {
    const [prefixes, names] = byAccess(access);
    const policy = new iam.CfnManagedPolicy(scope, policyId, {
      description: `compliance-lake: query the ${what[access]} with Athena - only the lake prefixes ${prefixes.join(', ')} and the ${access} workgroup`,
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          { Sid: 'ReadLakeObjects', Effect: 'Allow', Action: 's3:GetObject', Resource: lakeObjects(prefixes) },
          {
            Sid: 'ListLakePrefixes', Effect: 'Allow', Action: 's3:ListBucket', Resource: Fn.getAtt('LakeBucket', 'Arn'),
            Condition: {
              StringLike: {
                's3:prefix': Fn.conditionIf(
                  props.hasLakePrefix.logicalId,
                  prefixes.map((p) => Fn.sub(`\${LakePrefix}/${p}/*`)),
                  prefixes.map((p) => `${p}/*`),
                ),
              },
            },
          },
          { Sid: 'BucketLocations', Effect: 'Allow', Action: 's3:GetBucketLocation', Resource: [Fn.getAtt('LakeBucket', 'Arn'), Fn.getAtt('AthenaResultsBucket', 'Arn')] },
          {
            Sid: 'Catalog', Effect: 'Allow',
            Action: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetTables', 'glue:GetPartition', 'glue:GetPartitions'],
            Resource: [arn('glue', 'catalog'), arn('glue', 'database/${GlueDatabase}'), ...names.map((n) => arn('glue', `table/\${GlueDatabase}/${n}`))],
          },
          {
            Sid: 'Query', Effect: 'Allow',
            Action: ['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:GetQueryResults', 'athena:StopQueryExecution', 'athena:GetWorkGroup'],
            Resource: arn('athena', `workgroup/\${${workGroupId}}`),
          },
          {
            Sid: 'SavedQueries', Effect: 'Allow',
            Action: ['athena:ListNamedQueries', 'athena:GetNamedQuery', 'athena:BatchGetNamedQuery'],
            Resource: arn('athena', 'workgroup/${AthenaWorkGroup}'),
          },
          { Sid: 'OwnResults', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'], Resource: Fn.sub(`\${AthenaResultsBucket.Arn}/${access}/*`) },
          {
            Sid: 'ListOwnResults', Effect: 'Allow', Action: 's3:ListBucket', Resource: Fn.getAtt('AthenaResultsBucket', 'Arn'),
            Condition: { StringLike: { 's3:prefix': `${access}/*` } },
          },
          Fn.conditionIf('HasKmsKey',
            { Sid: 'CustomerManagedKey', Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: Fn.ref('KmsKeyArn') },
            Aws.NO_VALUE),
        ],
      },
    });
    policy.overrideLogicalId(policyId);
    policy.cfnOptions.condition = scope.node.tryFindChild('ReaderRolesOn') as CfnCondition;
  }
  const [content] = byAccess('content');
  const bucketPolicy = new s3.CfnBucketPolicy(scope, 'LakeBucketPolicy', {
    bucket: Fn.ref('LakeBucket'),
    policyDocument: {
      Version: '2012-10-17',
      Statement: [
        // A Deny: wildcards here only widen what is refused (any request without TLS).
        {
          Sid: 'DenyInsecureTransport', Effect: 'Deny', Principal: '*', Action: 's3:*',
          Resource: [Fn.getAtt('LakeBucket', 'Arn'), Fn.sub('${LakeBucket.Arn}/*')],
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
        Fn.conditionIf('ReaderRolesOn', {
          Sid: 'DenyContentReadsToOthers', Effect: 'Deny', Principal: '*',
          Action: ['s3:GetObject', 's3:GetObjectVersion'],
          Resource: lakeObjects([...content, '_staging']),
          Condition: { ArnNotEquals: { 'aws:PrincipalArn': [Fn.getAtt('WorkerRole', 'Arn'), Fn.getAtt('SchedulerRole', 'Arn'), Fn.getAtt('ContentReaderRole', 'Arn')] } },
        }, Aws.NO_VALUE),
      ],
    },
  });
  bucketPolicy.overrideLogicalId('LakeBucketPolicy');
  const dashboard = new cloudwatch.CfnDashboard(scope, 'OperationsDashboard', {
    dashboardName: Fn.sub('${AWS::StackName}-operations'),
    dashboardBody: Fn.sub(dashboardBody()),
  });
  dashboard.overrideLogicalId('OperationsDashboard');
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
