// The compliance-lake stack, resource for resource the same as infra/template.yaml after the SAM
// transform: same parameters, conditions, logical ids and properties (scripts/infra_check.py diffs
// the two synthesized templates). Comments on what each queue and alarm means live in
// infra/template.yaml and infra/README.md.
//
// Written with CloudFormation-level (Cfn*) constructs on purpose: the stack is driven by parameters
// (so `cdk deploy --parameters X=Y` and `sam deploy --parameter-overrides X=Y` take the same names),
// and the higher-level constructs' grant helpers add wildcard actions (s3:GetObject*, ...) that the
// least-privilege policies here avoid.
import { Aws, CfnCondition, CfnDeletionPolicy, CfnMapping, CfnOutput, CfnParameter, CfnResource, CfnRule, Fn, Stack, StackProps, Token } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { addAthenaDefinitions } from './athena';
import { functionCodeDir } from './assets';

const STREAMS = [
  'organizations', 'users', 'activities', 'chats', 'projects', 'local_sessions', 'remote_sessions', 'access_transparency',
  'transparency_checkpoints', 'roles', 'groups', 'org_settings', 'project_collaborators',
  'code_artifacts',
] as const;
const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

function lid<T extends CfnResource>(r: T, id: string): T {
  r.overrideLogicalId(id);
  return r;
}

/** `local_sessions` → `LocalSessions` (logical ids and parameter names, as in infra/template.yaml). */
function cap(s: string): string {
  return s
    .split('_')
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('');
  // snake_case stream names → PascalCase logical ids (access_transparency → AccessTransparency)
  return s.split('_').map((w) => w[0].toUpperCase() + w.slice(1)).join('');
}

export class ComplianceLakeStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);

    // ------------------------------------------------------------------------------------------
    // Parameters (same names, defaults and constraints as infra/template.yaml)
    // ------------------------------------------------------------------------------------------
    const param = (name: string, p: Omit<ConstructorParameters<typeof CfnParameter>[2] & object, never>) =>
      new CfnParameter(this, name, p);
    const trueFalse = (desc: string) => ({ type: 'String', default: 'true', allowedValues: ['true', 'false'], description: desc });

    const scheduleInterval = param('ScheduleIntervalMinutes', {
      type: 'String', default: '15', allowedValues: ['5', '10', '15', '30', '60'],
      description: 'How often the scheduler fans out a sync run (EventBridge rate). Also the period of the freshness alarms.',
    });
    const sync: Record<string, CfnParameter> = {
      organizations: param('SyncOrganizations', trueFalse('Sync the organizations snapshot (stream "organizations").')),
      users: param('SyncUsers', trueFalse('Sync the users snapshot of every organization (stream "users").')),
      activities: param('SyncActivities', trueFalse('Sync the activity feed (stream "activities").')),
      chats: param('SyncChats', trueFalse('Sync chats and every message, with the artifacts and generated files they reference (stream "chats", tables chats + chat_messages + chat_artifacts + generated_files).')),
      projects: param('SyncProjects', trueFalse('Sync projects and their documents (stream "projects", tables projects + project_documents).')),
      local_sessions: param('SyncLocalSessions', trueFalse('Sync Claude Code / Cowork / Claude for Microsoft 365 sessions on users\' machines with whole transcripts (stream "local_sessions", tables local_sessions + local_session_messages).')),
      remote_sessions: param('SyncRemoteSessions', trueFalse('Sync cloud Cowork sessions with whole transcripts (stream "remote_sessions", tables remote_sessions + remote_session_messages). A session its user deletes is gone from the API; it is polled every RemoteSessionsIntervalMinutes and with every sync run.')),
      access_transparency: param('SyncAccessTransparency', trueFalse('Sync Access Transparency events (anthropic_access, cmek_preserve) with a 3-business-day reconciliation walk (stream "access_transparency", table activities).')),
      transparency_checkpoints: param('SyncTransparencyCheckpoints', trueFalse('Verify and archive the Access Transparency log per organization: signed checkpoints, consistency and inclusion proofs (stream "transparency_checkpoints", tables transparency_checkpoints, transparency_inclusions, transparency_findings).')),
      roles: param('SyncRoles', trueFalse('Snapshot every organization\'s roles with their permissions (stream "roles", table roles) every DirectoryIntervalMinutes.')),
      groups: param('SyncGroups', trueFalse('Snapshot the groups and their members (stream "groups", tables groups + group_members) every DirectoryIntervalMinutes.')),
      org_settings: param('SyncOrgSettings', trueFalse('Snapshot every organization\'s effective settings and the Compliance Access Keys (stream "org_settings", table org_settings) every DirectoryIntervalMinutes; a key that appears or is deactivated is a transparency_findings row and alarms (ComplianceKeyChangeAlarm).')),
      project_collaborators: param('SyncProjectCollaborators', trueFalse('Snapshot who can see each project (stream "project_collaborators", table project_collaborators; one request per project) every DirectoryIntervalMinutes.')),
      code_artifacts: param('SyncCodeArtifacts', trueFalse('Sync Artifacts (Claude Code sites, Claude Docs, Sheets, ...) from the artifacts listing, each listed version once, with DLP over single-file versions (stream "code_artifacts", tables code_artifacts + code_artifact_versions). Chat artifacts and generated files come with SyncChats.')),
    };
    const remoteSessionsInterval = param('RemoteSessionsIntervalMinutes', {
      type: 'String', default: '5', allowedValues: ['0', '1', '2', '5', '10', '15'],
      description:
        'How often remote (cloud Cowork) sessions are polled besides the sync runs, so a session its user deletes is caught before it is gone from the API: a second EventBridge rule that runs only stream remote_sessions, in a run of its own. 0 = only with the sync runs (ScheduleIntervalMinutes).',
    });
    const directoryInterval = param('DirectoryIntervalMinutes', {
      type: 'Number', default: 60, minValue: 0, maxValue: 10080,
      description:
        'Cadence of the directory snapshots (roles, groups, org_settings, project_collaborators): a scheduled run takes a ' +
        'new snapshot only when the last one is at least this old (less 2 minutes of slack), so they do not eat the ' +
        'request budget. 0 = every scheduled run.',
    });
    const tlogKeys = param('TransparencyLogTrustedKeys', {
      type: 'String', default: '',
      description: 'Comma-separated SHA-256 fingerprints (hex) of Access Transparency log keys trusted besides the ones this release pins (an announced key rotation). Empty = the pinned keys only.',
    });
    const backfillStart = param('BackfillStart', {
      type: 'String', default: '',
      allowedPattern: '^$|^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:\\d{2})$',
      description: 'First-run start (RFC 3339, e.g. 2026-08-01T00:00:00Z). Empty = activities now - 90 days, chats now.',
    });
    const orgIds = param('OrgIds', { type: 'String', default: '', description: 'Comma-separated organization UUIDs or org_... ids to sync. Empty = all organizations the key can see.' });
    const userIds = param('UserIds', { type: 'String', default: '', description: 'Comma-separated user ids (chats are filtered client-side). Empty = all users.' });
    const projectIds = param('ProjectIds', { type: 'String', default: '', description: 'Comma-separated project ids. Empty = all projects.' });
    const excludeTypes = param('ExcludeActivityTypes', { type: 'String', default: '', description: 'Comma-separated activity types not to store, e.g. compliance_api_accessed.' });
    const selfAuditMaxLag = param('SelfAuditMaxLagSeconds', {
      type: 'Number', default: 21600, minValue: 0, maxValue: 604800,
      description:
        'Self-audit heartbeat: alarm (SelfAuditHeartbeatAlarm) when the newest compliance_api_accessed row of our own key ' +
        'in the activity feed is older than this for a whole hour (Compliance API access logging turned off, or our ' +
        'requests no longer recorded). 0 = no alarm. Off by itself when ExcludeActivityTypes holds ' +
        'compliance_api_accessed or OrgIds is set (the walk cannot see those rows).',
    });
    // Late-indexed events land minutes behind newer ones: less than 2 minutes of overlap misses them
    // (the functions refuse it too).
    const overlap = param('OverlapMinutes', {
      type: 'Number', default: 10, minValue: 2, maxValue: 1440,
      description: 'Re-read window behind the incremental watermark (late-indexed events, at least 2 minutes); duplicates are skipped.',
    });
    const activityPageSize = param('ActivityPageSize', {
      type: 'Number', default: 5000, minValue: 1, maxValue: 5000,
      description: "Activities per request (the API's maximum is 5000; fewer pages, fewer requests).",
    });
    const budget = param('BudgetPerMinute', {
      type: 'Number', default: 600, minValue: 1, maxValue: 600,
      description: "Compliance API requests per minute this deployment may spend (the tenant's 600/min is shared with other tools).",
    });
    const synthetic = param('Synthetic', {
      type: 'String', default: 'false', allowedPattern: '^(true|false|[0-9]+)$',
      description: '"true" (or a numeric seed) syncs the built-in synthetic tenant instead of the real API - a full dry run without a key.',
    });
    const apiBaseUrl = param('ApiBaseUrl', { type: 'String', default: 'https://api.anthropic.com', allowedPattern: '^(https://.+|http://(localhost|127\\.[0-9]+\\.[0-9]+\\.[0-9]+|\\[::1\\])(:[0-9]+)?(/.*)?)$', constraintDescription: 'must start with https:// (http:// only for loopback addresses)', description: 'Compliance API base URL (https://).' });

    const lakePrefix = param('LakePrefix', {
      type: 'String', default: 'lake', allowedPattern: '^$|^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*$',
      description: 'Key prefix of the lake inside the bucket (no leading or trailing slash; may be empty).',
    });
    const kmsKeyArn = param('KmsKeyArn', {
      type: 'String', default: '', allowedPattern: '^$|^arn:aws[a-z-]*:kms:[a-z0-9-]+:\\d{12}:key/[a-zA-Z0-9-]+$',
      description:
        'Optional customer-managed KMS key (key ARN, not an alias) for the bucket, table, queues, secret, ' +
        "alarm topic and Athena results. Its key policy must let this account's IAM policies use it and " +
        'let cloudwatch.amazonaws.com use it (alarms publish to the encrypted topic). Empty = AWS-managed encryption.',
    });
    const iaDays = param('LakeInfrequentAccessDays', {
      type: 'Number', default: 90, minValue: 30,
      description: 'Days after which lake objects larger than 128 KiB move to S3 Standard-IA (smaller ones stay in Standard, IA bills 128 KiB minimum).',
    });
    const glacierDays = param('LakeGlacierIrDays', {
      type: 'Number', default: 365, minValue: 90,
      description: 'Days after which lake objects larger than 128 KiB move to Glacier Instant Retrieval (still queryable by Athena). Must be at least LakeInfrequentAccessDays + 30.',
    });
    const noncurrentDays = param('NoncurrentVersionExpirationDays', {
      type: 'Number', default: 30, minValue: 1,
      description: 'Days to keep noncurrent object versions (a retried batch overwrites its own objects).',
    });
    const glueDbName = param('GlueDatabaseName', {
      type: 'String', default: 'compliance_lake', allowedPattern: '^[a-z0-9_]{1,255}$',
      description: 'Glue database holding the Athena tables.',
    });
    param('PartitionProjectionStart', {
      type: 'String', default: '2024-01-01', allowedPattern: '^\\d{4}-\\d{2}-\\d{2}$',
      description: 'First dt partition the Athena tables project (yyyy-MM-dd); set it to the first ingest date or earlier.',
    });
    const resultsDays = param('AthenaResultsExpirationDays', { type: 'Number', default: 30, minValue: 1, description: 'Days to keep Athena query results.' });
    const scanCutoff = param('AthenaBytesScannedCutoffPerQuery', {
      type: 'Number', default: 10737418240, minValue: 10485760,
      description: 'Athena cancels a query of this workgroup that would scan more bytes (cost guard; default 10 GiB).',
    });

    const workerTimeout = param('WorkerTimeoutSeconds', {
      type: 'String', default: '900', allowedValues: ['120', '300', '600', '900'],
      description: "Worker Lambda timeout. The queue's visibility timeout is set to 6x this (AWS's advice for SQS event sources).",
    });
    const workerMemory = param('WorkerMemoryMB', {
      type: 'Number', default: 1024, minValue: 128, maxValue: 10240,
      description: 'Worker Lambda memory (CPU scales with it; DLP scanning and gzip are CPU-bound).',
    });
    const batchSize = param('WorkerBatchSize', {
      type: 'Number', default: 1, minValue: 1, maxValue: 10,
      description: 'Jobs per worker invocation. 1 lets jobs run in parallel up to MaxConcurrency.',
    });
    const maxConcurrency = param('MaxConcurrency', {
      type: 'Number', default: 5, minValue: 2, maxValue: 1000,
      description: 'Upper bound of concurrent worker invocations (SQS event source ScalingConfig.MaximumConcurrency). All share BudgetPerMinute.',
    });
    const schedulerTimeout = param('SchedulerTimeoutSeconds', {
      type: 'Number', default: 300, minValue: 30, maxValue: 900,
      description: "Scheduler Lambda timeout (it lists organizations and enqueues the run's jobs).",
    });
    const schedulerMemory = param('SchedulerMemoryMB', { type: 'Number', default: 512, minValue: 128, maxValue: 10240, description: 'Scheduler Lambda memory.' });
    const dlqMaxReceive = param('DlqMaxReceiveCount', {
      type: 'Number', default: 5, minValue: 1, maxValue: 1000,
      description: 'Deliveries of a job message before SQS moves it to the dead-letter queue.',
    });
    const logLevel = param('LogLevel', { type: 'String', default: 'info', description: 'RUST_LOG filter of both functions (e.g. info, debug, shared=debug,info).' });
    const logRetention = param('LogRetentionDays', { type: 'Number', default: '30', allowedValues: LOG_RETENTION_DAYS.map(String), description: "Days to keep the functions' logs." });

    const alarmEmail = param('AlarmEmail', {
      type: 'String', default: '', allowedPattern: '^$|^[^@\\s]+@[^@\\s]+$',
      description: 'Optional e-mail address subscribed to the alarm topic (confirm the subscription e-mail).',
    });
    const freshness = param('FreshnessIntervals', {
      type: 'Number', default: 4, minValue: 1, maxValue: 24,
      description: "A stream's freshness alarm fires when no checkpoint advanced for this many schedule intervals.",
    });
    const oldestAge = param('OldestMessageAgeAlarmSeconds', {
      type: 'Number', default: 3600, minValue: 300,
      description: 'The work-queue alarm fires when its oldest job message is older than this.',
    });

    const accessLogging = param('LakeAccessLogging', {
      type: 'String', default: 'true', allowedValues: ['true', 'false'],
      description:
        'S3 server access logs of the lake bucket (every read, write and delete, with the principal) into a ' +
        'separate log bucket (SSE-S3: S3 log delivery cannot use a KMS key), partitioned by event time.',
    });
    const accessLogsDays = param('AccessLogsExpirationDays', { type: 'Number', default: 365, minValue: 1, description: "Days to keep the lake's access logs." });
    const objectLockMode = param('ObjectLockMode', {
      type: 'String', default: 'NONE', allowedValues: ['NONE', 'GOVERNANCE', 'COMPLIANCE'],
      description:
        'S3 Object Lock default retention on the lake (WORM). COMPLIANCE: nobody, root included, can delete ' +
        'or overwrite an object version before ObjectLockRetentionDays; GOVERNANCE: only principals with ' +
        's3:BypassGovernanceRetention can. Segments are then staged in a separate, unlocked staging bucket ' +
        '(the commit protocol deletes staged parts). Object Lock cannot be turned off again; choose it at the ' +
        'first deploy (see infra/README.md, upgrade notes).',
    });
    const objectLockDays = param('ObjectLockRetentionDays', {
      type: 'Number', default: 365, minValue: 1, maxValue: 36500,
      description: 'Default Object Lock retention of every lake object version, in days (with ObjectLockMode).',
    });
    param('ReaderRoles', {
      type: 'String', default: 'true', allowedValues: ['true', 'false'],
      description:
        'Two Athena reader roles and managed policies scoped by lake prefix - audit data (organizations, users, ' +
        'activities, manifests) and content (chats, messages, projects, files, DLP findings; its role also ' +
        'gets the audit policy) - each with its own workgroup and results prefix, and a lake bucket policy that ' +
        'denies content reads to every other principal of the account (the functions excepted).',
    });
    const boundaryArn = param('PermissionsBoundaryArn', {
      type: 'String', default: '', allowedPattern: '^$|^arn:aws[a-z-]*:iam::\\d{12}:policy/.+$',
      description: 'Optional IAM permissions boundary (managed policy ARN) set on every role this stack creates.',
    });
    const alertSeverity = param('DlpAlertMinSeverity', {
      type: 'String', default: 'HIGH', allowedValues: ['OFF', 'CRITICAL', 'HIGH', 'MEDIUM', 'LOW'],
      description:
        'The worker publishes DLP findings of this severity or higher as EventBridge events (source ' +
        'compliance-lake, detail-type "DLP Finding", redacted detail shaped like a dlp_findings row; a flood ' +
        'becomes one summary event). OFF: no events and no events:PutEvents permission.',
    });
    const alertBus = param('DlpAlertEventBus', {
      type: 'String', default: 'default', allowedPattern: '^[A-Za-z0-9._-]{1,256}$',
      description: 'Name of the EventBridge event bus (in this account and region) the findings are published to.',
    });
    const alertEmail = param('DlpAlertEmail', {
      type: 'String', default: '', allowedPattern: '^$|^[^@\\s]+@[^@\\s]+$',
      description: 'Optional e-mail address for DLP alerts (an EventBridge rule -> a separate SNS topic -> e-mail). Confirm the subscription e-mail.',
    });

    // ------------------------------------------------------------------------------------------
    // Mappings, conditions, rules
    // ------------------------------------------------------------------------------------------
    const scheduleMap = new CfnMapping(this, 'ScheduleIntervals', {
      mapping: Object.fromEntries(
        [5, 10, 15, 30, 60].map((m) => [String(m), { Expression: `rate(${m} minutes)`, PeriodSeconds: m * 60 }]),
      ),
    });
    const remoteSessionsMap = new CfnMapping(this, 'RemoteSessionsIntervals', {
      mapping: Object.fromEntries([1, 2, 5, 10, 15].map((m) => [String(m), { Expression: `rate(${m} minute${m === 1 ? '' : 's'})` }])),
    });
    const timeoutMap = new CfnMapping(this, 'WorkerTimeouts', {
      mapping: Object.fromEntries([120, 300, 600, 900].map((s) => [String(s), { VisibilityTimeout: s * 6 }])),
    });
    const hasKms = new CfnCondition(this, 'HasKmsKey', { expression: Fn.conditionNot(Fn.conditionEquals(kmsKeyArn.valueAsString, '')) });
    const hasPrefix = new CfnCondition(this, 'HasLakePrefix', { expression: Fn.conditionNot(Fn.conditionEquals(lakePrefix.valueAsString, '')) });
    const hasEmail = new CfnCondition(this, 'HasAlarmEmail', { expression: Fn.conditionNot(Fn.conditionEquals(alarmEmail.valueAsString, '')) });
    const streamOn: Record<string, CfnCondition> = {};
    for (const s of STREAMS) {
      streamOn[s] = new CfnCondition(this, `Sync${cap(s)}On`, { expression: Fn.conditionEquals(sync[s].valueAsString, 'true') });
    }
    const loggingOn = new CfnCondition(this, 'AccessLoggingOn', { expression: Fn.conditionEquals(accessLogging.valueAsString, 'true') });
    const lockOn = new CfnCondition(this, 'ObjectLockOn', { expression: Fn.conditionNot(Fn.conditionEquals(objectLockMode.valueAsString, 'NONE')) });
    const readersOn = new CfnCondition(this, 'ReaderRolesOn', { expression: Fn.conditionEquals(Fn.ref('ReaderRoles'), 'true') });
    const hasBoundary = new CfnCondition(this, 'HasPermissionsBoundary', { expression: Fn.conditionNot(Fn.conditionEquals(boundaryArn.valueAsString, '')) });
    const alertsOn = new CfnCondition(this, 'DlpAlertsOn', { expression: Fn.conditionNot(Fn.conditionEquals(alertSeverity.valueAsString, 'OFF')) });
    const selfAuditOn = new CfnCondition(this, 'SelfAuditHeartbeatOn', {
      expression: Fn.conditionAnd(streamOn['activities'], Fn.conditionNot(Fn.conditionEquals(selfAuditMaxLag.valueAsString, '0'))),
    });
    const remoteSessionsCadenceOn = new CfnCondition(this, 'RemoteSessionsCadenceOn', {
      expression: Fn.conditionAnd(streamOn['remote_sessions'], Fn.conditionNot(Fn.conditionEquals(remoteSessionsInterval.valueAsString, '0'))),
    });
    const hasAlertEmail = new CfnCondition(this, 'HasDlpAlertEmail', {
      expression: Fn.conditionAnd(alertsOn, Fn.conditionNot(Fn.conditionEquals(alertEmail.valueAsString, ''))),
    });
    const boundary = Token.asString(Fn.conditionIf(hasBoundary.logicalId, boundaryArn.valueAsString, Aws.NO_VALUE));
    const busArn = Fn.sub('arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${DlpAlertEventBus}');
    new CfnRule(this, 'AtLeastOneStream', {
      assertions: [
        {
          assert: Fn.conditionOr(...STREAMS.map((s) => Fn.conditionEquals(sync[s].valueAsString, 'true'))),
          assertDescription: 'Enable at least one stream (SyncOrganizations, SyncUsers, SyncActivities, SyncChats, SyncProjects, SyncLocalSessions, SyncRemoteSessions, SyncAccessTransparency, SyncTransparencyCheckpoints, SyncRoles, SyncGroups, SyncOrgSettings, SyncProjectCollaborators, SyncCodeArtifacts).',
        },
      ],
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- an Fn::If stands in for any property type
    const ifKms = (yes: unknown, no: unknown = Aws.NO_VALUE): any => Fn.conditionIf(hasKms.logicalId, yes, no);
    const ifKmsStr = (yes: string, no: string = Aws.NO_VALUE): string => Token.asString(ifKms(yes, no));
    const kmsRef = kmsKeyArn.valueAsString;

    // ------------------------------------------------------------------------------------------
    // Storage
    // ------------------------------------------------------------------------------------------
    const bucketEncryption = {
      serverSideEncryptionConfiguration: [
        {
          serverSideEncryptionByDefault: { sseAlgorithm: ifKmsStr('aws:kms', 'AES256'), kmsMasterKeyId: ifKmsStr(kmsRef) },
          bucketKeyEnabled: ifKms(true, false),
        },
      ],
    };
    const publicAccessBlock = { blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true };
    const lakeBucket = lid(new s3.CfnBucket(this, 'LakeBucket', {
      bucketEncryption,
      publicAccessBlockConfiguration: publicAccessBlock,
      ownershipControls: { rules: [{ objectOwnership: 'BucketOwnerEnforced' }] },
      versioningConfiguration: { status: 'Enabled' },
      // WORM: every lake object version locked; staged parts go to the unlocked StagingBucket.
      objectLockEnabled: Fn.conditionIf(lockOn.logicalId, true, Aws.NO_VALUE) as unknown as boolean,
      objectLockConfiguration: Fn.conditionIf(lockOn.logicalId, {
        ObjectLockEnabled: 'Enabled',
        Rule: { DefaultRetention: { Mode: objectLockMode.valueAsString, Days: objectLockDays.valueAsNumber } },
      }, Aws.NO_VALUE),
      loggingConfiguration: Fn.conditionIf(loggingOn.logicalId, {
        DestinationBucketName: Fn.ref('AccessLogsBucket'),
        LogFilePrefix: 'lake/',
        TargetObjectKeyFormat: { PartitionedPrefix: { PartitionDateSource: 'EventTime' } },
      }, Aws.NO_VALUE),
      lifecycleConfiguration: {
        rules: [
          {
            id: 'tier-large-objects',
            status: 'Enabled',
            objectSizeGreaterThan: 131072,
            transitions: [
              { storageClass: 'STANDARD_IA', transitionInDays: iaDays.valueAsNumber },
              { storageClass: 'GLACIER_IR', transitionInDays: glacierDays.valueAsNumber },
            ],
          },
          {
            id: 'expire-noncurrent-versions',
            status: 'Enabled',
            noncurrentVersionExpiration: { noncurrentDays: noncurrentDays.valueAsNumber },
            abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
          },
        ],
      },
    }), 'LakeBucket');
    lakeBucket.cfnOptions.deletionPolicy = lakeBucket.cfnOptions.updateReplacePolicy = CfnDeletionPolicy.RETAIN;
    const denyInsecure = (bucket: s3.CfnBucket) => ({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'DenyInsecureTransport',
          Effect: 'Deny',
          Principal: '*',
          Action: 's3:*',
          Resource: [bucket.attrArn, Fn.sub(`\${${bucket.logicalId}.Arn}/*`)],
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        },
      ],
    });
    // LakeBucketPolicy (TLS only; content reads restricted with ReaderRoles) comes with the reader
    // policies from infra/athena/tables.json: see ./athena.ts.

    // Staged segment parts when the lake is Object-Locked (see infra/template.yaml).
    const staging = lid(new s3.CfnBucket(this, 'StagingBucket', {
      bucketEncryption,
      publicAccessBlockConfiguration: publicAccessBlock,
      ownershipControls: { rules: [{ objectOwnership: 'BucketOwnerEnforced' }] },
      lifecycleConfiguration: {
        rules: [{ id: 'expire-abandoned-staging', status: 'Enabled', expirationInDays: 2, abortIncompleteMultipartUpload: { daysAfterInitiation: 1 } }],
      },
    }), 'StagingBucket');
    staging.cfnOptions.condition = lockOn;
    staging.cfnOptions.deletionPolicy = staging.cfnOptions.updateReplacePolicy = CfnDeletionPolicy.DELETE;
    const stagingPolicy = lid(new s3.CfnBucketPolicy(this, 'StagingBucketPolicy', {
      bucket: staging.ref,
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          ...denyInsecure(staging).Statement,
          {
            Sid: 'DenyReadsToOthers',
            Effect: 'Deny',
            Principal: '*',
            Action: ['s3:GetObject', 's3:GetObjectVersion'],
            Resource: Fn.sub('${StagingBucket.Arn}/*'),
            Condition: { ArnNotEquals: { 'aws:PrincipalArn': [Fn.getAtt('WorkerRole', 'Arn'), Fn.getAtt('SchedulerRole', 'Arn')] } },
          },
        ],
      },
    }), 'StagingBucketPolicy');
    stagingPolicy.cfnOptions.condition = lockOn;

    // Server access logs of the lake: SSE-S3 only (log delivery), never Object-Locked.
    const accessLogs = lid(new s3.CfnBucket(this, 'AccessLogsBucket', {
      bucketEncryption: { serverSideEncryptionConfiguration: [{ serverSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }] },
      publicAccessBlockConfiguration: publicAccessBlock,
      ownershipControls: { rules: [{ objectOwnership: 'BucketOwnerEnforced' }] },
      versioningConfiguration: { status: 'Enabled' },
      lifecycleConfiguration: {
        rules: [{ id: 'expire-access-logs', status: 'Enabled', expirationInDays: accessLogsDays.valueAsNumber, noncurrentVersionExpiration: { noncurrentDays: 1 } }],
      },
    }), 'AccessLogsBucket');
    accessLogs.cfnOptions.condition = loggingOn;
    accessLogs.cfnOptions.deletionPolicy = accessLogs.cfnOptions.updateReplacePolicy = CfnDeletionPolicy.RETAIN;
    const accessLogsPolicy = lid(new s3.CfnBucketPolicy(this, 'AccessLogsBucketPolicy', {
      bucket: accessLogs.ref,
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          ...denyInsecure(accessLogs).Statement,
          {
            Sid: 'S3ServerAccessLogsDelivery',
            Effect: 'Allow',
            Principal: { Service: 'logging.s3.amazonaws.com' },
            Action: 's3:PutObject',
            Resource: Fn.sub('${AccessLogsBucket.Arn}/lake/*'),
            Condition: { ArnLike: { 'aws:SourceArn': lakeBucket.attrArn }, StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
          },
        ],
      },
    }), 'AccessLogsBucketPolicy');
    accessLogsPolicy.cfnOptions.condition = loggingOn;

    const resultsBucket = lid(new s3.CfnBucket(this, 'AthenaResultsBucket', {
      bucketEncryption,
      publicAccessBlockConfiguration: publicAccessBlock,
      ownershipControls: { rules: [{ objectOwnership: 'BucketOwnerEnforced' }] },
      lifecycleConfiguration: {
        rules: [
          {
            id: 'expire-results',
            status: 'Enabled',
            expirationInDays: resultsDays.valueAsNumber,
            abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
          },
        ],
      },
    }), 'AthenaResultsBucket');
    resultsBucket.cfnOptions.deletionPolicy = resultsBucket.cfnOptions.updateReplacePolicy = CfnDeletionPolicy.RETAIN;
    lid(new s3.CfnBucketPolicy(this, 'AthenaResultsBucketPolicy', { bucket: resultsBucket.ref, policyDocument: denyInsecure(resultsBucket) }), 'AthenaResultsBucketPolicy');

    const table = lid(new dynamodb.CfnTable(this, 'StateTable', {
      billingMode: 'PAY_PER_REQUEST',
      attributeDefinitions: [
        { attributeName: 'pk', attributeType: 'S' },
        { attributeName: 'sk', attributeType: 'S' },
      ],
      keySchema: [
        { attributeName: 'pk', keyType: 'HASH' },
        { attributeName: 'sk', keyType: 'RANGE' },
      ],
      timeToLiveSpecification: { attributeName: 'expires_at', enabled: true },
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      sseSpecification: ifKms({ SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: kmsRef }, { SSEEnabled: true }),
    }), 'StateTable');
    table.cfnOptions.deletionPolicy = table.cfnOptions.updateReplacePolicy = CfnDeletionPolicy.RETAIN;

    // Created empty: the key is stored with `compliance-lake key register`.
    const secret = lid(new secretsmanager.CfnSecret(this, 'AccessKeySecret', {
      description: 'compliance-lake Compliance Access Key (sk-ant-api01-...); set with `compliance-lake key register`',
      kmsKeyId: ifKmsStr(kmsRef),
    }), 'AccessKeySecret');
    secret.cfnOptions.deletionPolicy = secret.cfnOptions.updateReplacePolicy = CfnDeletionPolicy.DELETE;

    // The DLP fingerprint key: created empty, filled by the functions on first start; never in the
    // state table. Retained with the lake (its fingerprints only correlate under this key).
    const dlpKeySecret = lid(new secretsmanager.CfnSecret(this, 'DlpFingerprintKeySecret', {
      description: 'compliance-lake DLP fingerprint key (filled by the functions on first start; never in the state table)',
      kmsKeyId: ifKmsStr(kmsRef),
    }), 'DlpFingerprintKeySecret');
    dlpKeySecret.cfnOptions.deletionPolicy = dlpKeySecret.cfnOptions.updateReplacePolicy = CfnDeletionPolicy.RETAIN;

    // ------------------------------------------------------------------------------------------
    // Queues (work queue + dead-letter queue; redrive: see infra/README.md)
    // ------------------------------------------------------------------------------------------
    const dlq = lid(new sqs.CfnQueue(this, 'DeadLetterQueue', {
      queueName: Fn.sub('${AWS::StackName}-jobs-dlq'),
      messageRetentionPeriod: 1209600,
      sqsManagedSseEnabled: ifKms(Aws.NO_VALUE, true),
      kmsMasterKeyId: ifKmsStr(kmsRef),
      redriveAllowPolicy: {
        redrivePermission: 'byQueue',
        sourceQueueArns: [Fn.sub('arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${AWS::StackName}-jobs')],
      },
    }), 'DeadLetterQueue');
    dlq.cfnOptions.deletionPolicy = dlq.cfnOptions.updateReplacePolicy = CfnDeletionPolicy.DELETE;
    const queue = lid(new sqs.CfnQueue(this, 'WorkQueue', {
      queueName: Fn.sub('${AWS::StackName}-jobs'),
      visibilityTimeout: Token.asNumber(timeoutMap.findInMap(workerTimeout.valueAsString, 'VisibilityTimeout')),
      messageRetentionPeriod: 345600,
      sqsManagedSseEnabled: ifKms(Aws.NO_VALUE, true),
      kmsMasterKeyId: ifKmsStr(kmsRef),
      redrivePolicy: { deadLetterTargetArn: dlq.attrArn, maxReceiveCount: dlqMaxReceive.valueAsNumber },
    }), 'WorkQueue');
    queue.cfnOptions.deletionPolicy = queue.cfnOptions.updateReplacePolicy = CfnDeletionPolicy.DELETE;

    // ------------------------------------------------------------------------------------------
    // Functions: log groups, least-privilege roles, the two Lambdas, schedule, SQS event source
    // ------------------------------------------------------------------------------------------
    const logGroup = (name: string) => {
      const g = lid(new logs.CfnLogGroup(this, `${cap(name)}LogGroup`, {
        logGroupName: Fn.sub(`/compliance-lake/\${AWS::StackName}/${name}`),
        retentionInDays: logRetention.valueAsNumber,
        kmsKeyId: ifKmsStr(kmsRef),
      }), `${cap(name)}LogGroup`);
      g.cfnOptions.deletionPolicy = g.cfnOptions.updateReplacePolicy = CfnDeletionPolicy.DELETE;
      return g;
    };
    const schedulerLogs = logGroup('scheduler');
    const workerLogs = logGroup('worker');

    const lakeObjects: string = Token.asString(Fn.conditionIf(hasPrefix.logicalId, Fn.sub('${LakeBucket.Arn}/${LakePrefix}/*'), Fn.sub('${LakeBucket.Arn}/*')));
    const kmsStatement = ifKms({ Sid: 'CustomerManagedKey', Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: kmsRef });
    const role = (name: string, description: string, logGroupArn: string, specific: object[]) =>
      lid(new iam.CfnRole(this, `${cap(name)}Role`, {
        description,
        permissionsBoundary: boundary,
        assumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
        },
        policies: [
          {
            policyName: name,
            policyDocument: {
              Version: '2012-10-17',
              Statement: [
                { Sid: 'WriteOwnLogs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: logGroupArn },
                { Sid: 'LakeObjects', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], Resource: lakeObjects },
                // Unconditioned ListBucket: with an s3:prefix condition a GetObject of a missing key
                // answers 403 instead of the 404 the code expects. The bucket holds only this lake.
                { Sid: 'LakeList', Effect: 'Allow', Action: 's3:ListBucket', Resource: lakeBucket.attrArn },
                ...specific,
                { Sid: 'AccessKey', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: secret.ref },
                // Read, and filled once on first start (shared/src/aws/dlp_key.rs).
                { Sid: 'DlpFingerprintKey', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'], Resource: dlpKeySecret.ref },
                kmsStatement,
              ],
            },
          },
        ],
      }), `${cap(name)}Role`);
    const stagingStatements = [
      Fn.conditionIf(lockOn.logicalId, { Sid: 'StagingObjects', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], Resource: Fn.sub('${StagingBucket.Arn}/*') }, Aws.NO_VALUE),
      Fn.conditionIf(lockOn.logicalId, { Sid: 'StagingList', Effect: 'Allow', Action: 's3:ListBucket', Resource: Fn.getAtt('StagingBucket', 'Arn') }, Aws.NO_VALUE),
    ];
    const schedulerRole = role('scheduler', 'compliance-lake scheduler (EventBridge -> organizations snapshot + fan-out)', schedulerLogs.attrArn, [
      { Sid: 'State', Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'], Resource: table.attrArn },
      ...stagingStatements,
      { Sid: 'Enqueue', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: queue.attrArn },
    ]);
    const workerRole = role('worker', 'compliance-lake worker (SQS job -> API pages -> S3 lake + DLP findings)', workerLogs.attrArn, [
      { Sid: 'State', Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Query'], Resource: table.attrArn },
      // The SQS event source mapping polls with the function's role.
      { Sid: 'ConsumeJobs', Effect: 'Allow', Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'], Resource: queue.attrArn },
      ...stagingStatements,
      Fn.conditionIf(alertsOn.logicalId, { Sid: 'PublishDlpAlerts', Effect: 'Allow', Action: 'events:PutEvents', Resource: busArn }, Aws.NO_VALUE),
      { Sid: 'EnqueueContinuations', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: queue.attrArn },
    ]);

    // Read by shared/src/serverless/settings.rs and shared/src/aws/config.rs (empty = default).
    const environment = {
      variables: {
        COMPLIANCE_LAKE_BUCKET: lakeBucket.ref,
        COMPLIANCE_LAKE_PREFIX: lakePrefix.valueAsString,
        COMPLIANCE_LAKE_TABLE: table.ref,
        COMPLIANCE_LAKE_QUEUE_URL: queue.ref,
        COMPLIANCE_LAKE_SECRET_ID: secret.ref,
        COMPLIANCE_LAKE_DLP_KEY_SECRET_ID: dlpKeySecret.ref,
        COMPLIANCE_API_BASE_URL: apiBaseUrl.valueAsString,
        COMPLIANCE_LAKE_BUDGET_PER_MINUTE: budget.valueAsString,
        COMPLIANCE_LAKE_BACKFILL_START: backfillStart.valueAsString,
        COMPLIANCE_LAKE_ORG_IDS: orgIds.valueAsString,
        COMPLIANCE_LAKE_USER_IDS: userIds.valueAsString,
        COMPLIANCE_LAKE_PROJECT_IDS: projectIds.valueAsString,
        COMPLIANCE_LAKE_EXCLUDE_ACTIVITY_TYPES: excludeTypes.valueAsString,
        COMPLIANCE_LAKE_STREAMS: Fn.join('', STREAMS.map((s) => Token.asString(Fn.conditionIf(streamOn[s].logicalId, `${s},`, '')))),
        COMPLIANCE_LAKE_TLOG_TRUSTED_KEYS: tlogKeys.valueAsString,
        COMPLIANCE_LAKE_DIRECTORY_INTERVAL_MINUTES: directoryInterval.valueAsString,
        COMPLIANCE_LAKE_OVERLAP_MINUTES: overlap.valueAsString,
        COMPLIANCE_LAKE_ACTIVITY_PAGE_SIZE: activityPageSize.valueAsString,
        COMPLIANCE_LAKE_SYNTHETIC: synthetic.valueAsString,
        COMPLIANCE_LAKE_SSE: ifKmsStr('aws:kms', 'AES256'),
        COMPLIANCE_LAKE_KMS_KEY_ID: kmsRef,
        COMPLIANCE_LAKE_STAGING_BUCKET: Token.asString(Fn.conditionIf(lockOn.logicalId, Fn.ref('StagingBucket'), '')),
        COMPLIANCE_LAKE_ALERTS_EVENT_BUS: Token.asString(Fn.conditionIf(alertsOn.logicalId, busArn, '')),
        COMPLIANCE_LAKE_ALERTS_MIN_SEVERITY: alertSeverity.valueAsString,
        RUST_LOG: logLevel.valueAsString,
      },
    };
    const fn = (name: string, description: string, fnRole: iam.CfnRole, timeout: number, memory: number, logs: logs.CfnLogGroup) => {
      const code = new s3assets.Asset(this, `${cap(name)}Code`, { path: functionCodeDir(this, name) });
      const f = lid(new lambda.CfnFunction(this, `${cap(name)}Function`, {
        description,
        code: { s3Bucket: code.s3BucketName, s3Key: code.s3ObjectKey },
        handler: 'bootstrap',
        runtime: 'provided.al2023',
        architectures: ['arm64'],
        role: fnRole.attrArn,
        timeout,
        memorySize: memory,
        environment,
        loggingConfig: { logFormat: 'JSON', logGroup: logs.ref },
      }), `${cap(name)}Function`);
      code.addResourceMetadata(f, 'Code');
      return f;
    };
    const scheduler = fn('scheduler', "compliance-lake scheduler - checks the key, snapshots organizations, enqueues the run's jobs",
      schedulerRole, schedulerTimeout.valueAsNumber, schedulerMemory.valueAsNumber, schedulerLogs);
    const worker = fn('worker', 'compliance-lake worker - runs one job per queue message, reports per-message failures',
      workerRole, Token.asNumber(workerTimeout.valueAsString), workerMemory.valueAsNumber, workerLogs);
    // A job that reaches its deadline continues in a new queue message: Lambda -> SQS -> this same
    // Lambda. Lambda's recursive-loop detection counts such hops (through the trace header the AWS
    // SDKs propagate) and drops the event after about 16, which would cut a long backfill off.
    worker.recursiveLoop = 'Allow';

    const rule = lid(new events.CfnRule(this, 'SchedulerFunctionSchedule', {
      description: 'compliance-lake sync run',
      scheduleExpression: scheduleMap.findInMap(scheduleInterval.valueAsString, 'Expression'),
      state: 'ENABLED',
      targets: [{ arn: scheduler.attrArn, id: 'SchedulerFunctionScheduleLambdaTarget' }],
    }), 'SchedulerFunctionSchedule');
    lid(new lambda.CfnPermission(this, 'SchedulerFunctionSchedulePermission', {
      action: 'lambda:InvokeFunction',
      functionName: scheduler.ref,
      principal: 'events.amazonaws.com',
      sourceArn: rule.attrArn,
    }), 'SchedulerFunctionSchedulePermission');
    // Remote sessions on a cadence of their own (a session its user deletes is gone from the API): a
    // second rule whose input transformer keeps the event's time (the run's idempotency key) and names
    // the stream in the detail; the scheduler runs just that stream, in a run and schedule slot of its own.
    const remoteRule = lid(new events.CfnRule(this, 'RemoteSessionsSchedule', {
      description: 'compliance-lake remote sessions run (RemoteSessionsIntervalMinutes)',
      scheduleExpression: remoteSessionsMap.findInMap(remoteSessionsInterval.valueAsString, 'Expression'),
      state: 'ENABLED',
      targets: [{
        arn: scheduler.attrArn,
        id: 'RemoteSessionsScheduleLambdaTarget',
        inputTransformer: {
          inputPathsMap: { id: '$.id', time: '$.time', account: '$.account', region: '$.region' },
          inputTemplate:
            '{"version": "0", "id": <id>, "detail-type": "Scheduled Event", "source": "aws.events", ' +
            '"account": <account>, "time": <time>, "region": <region>, "resources": [], ' +
            '"detail": {"streams": ["remote_sessions"]}}',
        },
      }],
    }), 'RemoteSessionsSchedule');
    remoteRule.cfnOptions.condition = remoteSessionsCadenceOn;
    const remotePermission = lid(new lambda.CfnPermission(this, 'RemoteSessionsSchedulePermission', {
      action: 'lambda:InvokeFunction',
      functionName: scheduler.ref,
      principal: 'events.amazonaws.com',
      sourceArn: remoteRule.attrArn,
    }), 'RemoteSessionsSchedulePermission');
    remotePermission.cfnOptions.condition = remoteSessionsCadenceOn;
    lid(new lambda.CfnEventSourceMapping(this, 'WorkerFunctionJobs', {
      batchSize: batchSize.valueAsNumber,
      eventSourceArn: queue.attrArn,
      functionName: worker.ref,
      functionResponseTypes: ['ReportBatchItemFailures'],
      scalingConfig: { maximumConcurrency: maxConcurrency.valueAsNumber },
    }), 'WorkerFunctionJobs');

    // ------------------------------------------------------------------------------------------
    // Alarms -> SNS
    // ------------------------------------------------------------------------------------------
    const topic = lid(new sns.CfnTopic(this, 'AlarmTopic', {
      displayName: 'compliance-lake alarms',
      kmsMasterKeyId: ifKmsStr(kmsRef),
    }), 'AlarmTopic');
    const sub = lid(new sns.CfnSubscription(this, 'AlarmEmailSubscription', {
      topicArn: topic.ref,
      protocol: 'email',
      endpoint: alarmEmail.valueAsString,
    }), 'AlarmEmailSubscription');
    sub.cfnOptions.condition = hasEmail;

    const alarm = (id: string, p: Omit<cloudwatch.CfnAlarmProps, 'alarmActions' | 'okActions'>, condition?: CfnCondition) => {
      const a = lid(new cloudwatch.CfnAlarm(this, id, { ...p, alarmActions: [topic.ref], okActions: [topic.ref] }), id);
      if (condition) a.cfnOptions.condition = condition;
      return a;
    };
    const anyOver = { period: 300, evaluationPeriods: 1, threshold: 0, comparisonOperator: 'GreaterThanThreshold', treatMissingData: 'notBreaching' };
    alarm('DeadLetterQueueNotEmptyAlarm', {
      alarmDescription:
        'compliance-lake: job messages in the dead-letter queue. A job failed repeatedly; its checkpoint did not ' +
        'advance. Check the worker logs, fix the cause, then redrive with ' +
        '`aws sqs start-message-move-task --source-arn <DeadLetterQueueArn>` (see infra/README.md).',
      namespace: 'AWS/SQS', metricName: 'ApproximateNumberOfMessagesVisible',
      dimensions: [{ name: 'QueueName', value: dlq.attrQueueName }],
      statistic: 'Maximum', ...anyOver,
    });
    alarm('WorkQueueOldestMessageAlarm', {
      alarmDescription:
        'compliance-lake: the oldest job message waited longer than OldestMessageAgeAlarmSeconds. Workers are behind ' +
        '(raise MaxConcurrency / BudgetPerMinute, or wait out a backfill) or a job is failing and being retried.',
      namespace: 'AWS/SQS', metricName: 'ApproximateAgeOfOldestMessage',
      dimensions: [{ name: 'QueueName', value: queue.attrQueueName }],
      statistic: 'Maximum', period: 300, evaluationPeriods: 2, threshold: oldestAge.valueAsNumber,
      comparisonOperator: 'GreaterThanThreshold', treatMissingData: 'notBreaching',
    });
    alarm('SchedulerStoppedAlarm', {
      alarmDescription:
        'compliance-lake: the scheduler stopped - no usable Compliance Access Key (not registered, revoked, or ' +
        'the secret is empty); nothing is synced. Register one with `compliance-lake key register`.',
      namespace: 'ComplianceLake', metricName: 'SchedulerStopped',
      dimensions: [{ name: 'Function', value: 'scheduler' }],
      statistic: 'Sum', ...anyOver,
    });
    const fnAlarms: [string, lambda.CfnFunction, string, string][] = [
      ['SchedulerErrorsAlarm', scheduler, 'Errors', 'compliance-lake scheduler invocations failed (configuration, permissions, timeout). See its log group.'],
      ['WorkerErrorsAlarm', worker, 'Errors', 'compliance-lake worker invocations failed as a whole (crash, timeout, configuration). See its log group.'],
      ['SchedulerThrottlesAlarm', scheduler, 'Throttles', "compliance-lake scheduler throttled - the account's Lambda concurrency is exhausted; a sync run may be skipped."],
      ['WorkerThrottlesAlarm', worker, 'Throttles', "compliance-lake worker throttled - the account's Lambda concurrency is exhausted; jobs wait in the queue."],
    ];
    for (const [id, f, metric, description] of fnAlarms) {
      alarm(id, {
        alarmDescription: description, namespace: 'AWS/Lambda', metricName: metric,
        dimensions: [{ name: 'FunctionName', value: f.ref }], statistic: 'Sum', ...anyOver,
      });
    }
    // Freshness: no CheckpointAdvanced for FreshnessIntervals schedule intervals; missing data = breaching.
    for (const s of STREAMS) {
      alarm(`Freshness${cap(s)}Alarm`, {
        alarmDescription:
          `compliance-lake: stream "${s}" has not advanced its checkpoint for FreshnessIntervals schedule ` +
          `intervals. Check the key (compliance-lake key status), the ${s === 'organizations' ? 'scheduler' : 'worker'} log and the DLQ.`,
        namespace: 'ComplianceLake', metricName: 'CheckpointAdvanced',
        dimensions: [{ name: 'Stream', value: s }],
        statistic: 'Sum',
        period: Token.asNumber(scheduleMap.findInMap(scheduleInterval.valueAsString, 'PeriodSeconds')),
        evaluationPeriods: freshness.valueAsNumber,
        datapointsToAlarm: freshness.valueAsNumber,
        threshold: 1,
        comparisonOperator: 'LessThanThreshold',
        treatMissingData: 'breaching',
      }, streamOn[s]);
    }
    // Quarantine: an item (a chat's messages, a project) failed and is skipped; the stream moves on.
    for (const [s, on, id] of [['chat_messages', 'chats', 'ChatMessages'], ['project_details', 'projects', 'Projects']] as const) {
      alarm(`Quarantined${id}Alarm`, {
        alarmDescription:
          `compliance-lake: stream "${s}" holds items in quarantine (they failed and are skipped, retried on a ` +
          'slower cadence). List them with `compliance-lake status`; fix the cause (a permission, a deleted object) ' +
          'and they are written exactly once on a later run.',
        namespace: 'ComplianceLake', metricName: 'QuarantinedItems',
        dimensions: [{ name: 'Stream', value: s }],
        statistic: 'Maximum', ...anyOver,
      }, streamOn[on]);
    }

    // Access Transparency log: any verification failure (a transparency_findings row) alarms.
    alarm('TransparencyLogAlarm', {
      alarmDescription:
        'compliance-lake: the Access Transparency log failed verification (forked or shrunk log, bad signature or ' +
        'origin, an inclusion proof that does not match, an event changed, a proof missing > 24 h, the log vanished). ' +
        'Query transparency_findings in Athena, keep the archived checkpoints (transparency_checkpoints) and contact Anthropic.',
      namespace: 'ComplianceLake', metricName: 'TransparencyFindings',
      dimensions: [{ name: 'Stream', value: 'transparency_checkpoints' }],
      statistic: 'Sum', ...anyOver,
    }, streamOn['transparency_checkpoints']);

    // Self-audit: a Compliance Access Key appeared, was deactivated or vanished between two settings snapshots.
    alarm('ComplianceKeyChangeAlarm', {
      alarmDescription:
        'compliance-lake: a Compliance Access Key appeared, was deactivated or vanished in the effective organization ' +
        'settings. Query transparency_findings (kind compliance_key_*) in Athena or run `compliance-lake diff settings`, ' +
        'and confirm who changed it in claude.ai (Organization settings, API).',
      namespace: 'ComplianceLake', metricName: 'ComplianceKeyChanges',
      dimensions: [{ name: 'Stream', value: 'org_settings' }],
      statistic: 'Sum', ...anyOver,
    }, streamOn['org_settings']);

    // Self-audit heartbeat: our own requests stopped appearing in the activity feed.
    alarm('SelfAuditHeartbeatAlarm', {
      alarmDescription:
        'compliance-lake: the Compliance API has not recorded our own requests in the activity feed ' +
        '(compliance_api_accessed rows of our key) for longer than SelfAuditMaxLagSeconds. Check whether Compliance API ' +
        'access logging was turned off (activity org_compliance_api_settings_updated) and run `compliance-lake status`.',
      namespace: 'ComplianceLake', metricName: 'SelfAuditLagSeconds',
      dimensions: [{ name: 'Stream', value: 'activities' }],
      statistic: 'Minimum', period: 3600, evaluationPeriods: 1, threshold: selfAuditMaxLag.valueAsNumber,
      comparisonOperator: 'GreaterThanThreshold', treatMissingData: 'notBreaching',
    }, selfAuditOn);

    // ------------------------------------------------------------------------------------------
    // DLP alerts: rule on DlpAlertEventBus, optional e-mail through a topic of their own
    // ------------------------------------------------------------------------------------------
    const alertRule = lid(new events.CfnRule(this, 'DlpAlertRule', {
      description: 'compliance-lake DLP findings (and flood summaries) published by the worker',
      eventBusName: alertBus.valueAsString,
      state: 'ENABLED',
      eventPattern: { source: ['compliance-lake'], 'detail-type': [{ prefix: 'DLP Finding' }] },
      targets: Fn.conditionIf(hasAlertEmail.logicalId, [{ Id: 'DlpAlertTopic', Arn: Fn.ref('DlpAlertTopic') }], Aws.NO_VALUE),
    }), 'DlpAlertRule');
    alertRule.cfnOptions.condition = alertsOn;
    const alertTopic = lid(new sns.CfnTopic(this, 'DlpAlertTopic', {
      displayName: 'compliance-lake DLP alerts',
      kmsMasterKeyId: ifKmsStr(kmsRef),
    }), 'DlpAlertTopic');
    alertTopic.cfnOptions.condition = hasAlertEmail;
    const alertTopicPolicy = lid(new sns.CfnTopicPolicy(this, 'DlpAlertTopicPolicy', {
      topics: [alertTopic.ref],
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'DlpAlertRulePublishes',
            Effect: 'Allow',
            Principal: { Service: 'events.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: alertTopic.ref,
            Condition: { ArnEquals: { 'aws:SourceArn': alertRule.attrArn } },
          },
        ],
      },
    }), 'DlpAlertTopicPolicy');
    alertTopicPolicy.cfnOptions.condition = hasAlertEmail;
    const alertSub = lid(new sns.CfnSubscription(this, 'DlpAlertEmailSubscription', {
      topicArn: alertTopic.ref,
      protocol: 'email',
      endpoint: alertEmail.valueAsString,
    }), 'DlpAlertEmailSubscription');
    alertSub.cfnOptions.condition = hasAlertEmail;

    // ------------------------------------------------------------------------------------------
    // Athena: workgroup, database, tables and named queries (from infra/athena/)
    // ------------------------------------------------------------------------------------------
    const workGroup = lid(new athena.CfnWorkGroup(this, 'AthenaWorkGroup', {
      name: Fn.sub('${AWS::StackName}'),
      description: 'compliance-lake queries (results encrypted, scan cutoff per query)',
      state: 'ENABLED',
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: scanCutoff.valueAsNumber,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: Fn.sub('s3://${AthenaResultsBucket}/results/'),
          encryptionConfiguration: ifKms({ EncryptionOption: 'SSE_KMS', KmsKey: kmsRef }, { EncryptionOption: 'SSE_S3' }),
        },
      },
    }), 'AthenaWorkGroup');
    const database = lid(new glue.CfnDatabase(this, 'GlueDatabase', {
      catalogId: Aws.ACCOUNT_ID,
      databaseInput: {
        name: glueDbName.valueAsString,
        description: 'compliance-lake tables over the S3 lake (gzip NDJSON, partition projection on dt)',
      },
    }), 'GlueDatabase');
    // Readers: audit data vs content, each with its own workgroup (results isolated by prefix); the
    // managed policies are generated from infra/athena/tables.json in ./athena.ts.
    const readerWorkGroup = (cls: string) => {
      const w = lid(new athena.CfnWorkGroup(this, `Athena${cap(cls)}WorkGroup`, {
        name: Fn.sub(`\${AWS::StackName}-${cls}`),
        description: `compliance-lake ${cls} readers (results under ${cls}/ in the results bucket, readable only by them)`,
        state: 'ENABLED',
        recursiveDeleteOption: true,
        workGroupConfiguration: {
          enforceWorkGroupConfiguration: true,
          publishCloudWatchMetricsEnabled: true,
          bytesScannedCutoffPerQuery: scanCutoff.valueAsNumber,
          engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
          resultConfiguration: {
            outputLocation: Fn.sub(`s3://\${AthenaResultsBucket}/${cls}/`),
            encryptionConfiguration: ifKms({ EncryptionOption: 'SSE_KMS', KmsKey: kmsRef }, { EncryptionOption: 'SSE_S3' }),
          },
        },
      }), `Athena${cap(cls)}WorkGroup`);
      w.cfnOptions.condition = readersOn;
    };
    readerWorkGroup('audit');
    readerWorkGroup('content');
    addAthenaDefinitions(this, { database, workGroup, hasLakePrefix: hasPrefix });
    const readerRole = (cls: string, description: string, policies: string[]) => {
      const r = lid(new iam.CfnRole(this, `${cap(cls)}ReaderRole`, {
        description,
        permissionsBoundary: boundary,
        maxSessionDuration: 3600,
        assumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { AWS: Fn.sub('arn:${AWS::Partition}:iam::${AWS::AccountId}:root') }, Action: 'sts:AssumeRole' }],
        },
        managedPolicyArns: policies.map((p) => Fn.ref(p)),
      }), `${cap(cls)}ReaderRole`);
      r.cfnOptions.condition = readersOn;
      return r;
    };
    const auditRole = readerRole('audit', 'compliance-lake audit reader - organizations, users, activities, manifests (Athena workgroup <stack>-audit)', ['AuditReaderPolicy']);
    const contentRole = readerRole('content', 'compliance-lake content reader - chats, messages, projects, files, DLP findings, plus the audit data (workgroup <stack>-content)', ['AuditReaderPolicy', 'ContentReaderPolicy']);

    // ------------------------------------------------------------------------------------------
    // Outputs
    // ------------------------------------------------------------------------------------------
    const out = (id: string, value: string, description?: string) => new CfnOutput(this, id, { value, description });
    out('LakeBucketName', lakeBucket.ref, 'S3 bucket of the lake');
    out('LakeLocation', Token.asString(Fn.conditionIf(hasPrefix.logicalId, Fn.sub('s3://${LakeBucket}/${LakePrefix}/'), Fn.sub('s3://${LakeBucket}/'))),
      'Where the tables are written (<table>/dt=YYYY-MM-DD/<name>.ndjson.gz below it)');
    out('StateTableName', table.ref, 'DynamoDB table of checkpoints, leases and the request budget');
    out('WorkQueueUrl', queue.ref, 'SQS work queue');
    out('DeadLetterQueueUrl', dlq.ref, 'SQS dead-letter queue (see the DLQ alarm for how to redrive)');
    out('DeadLetterQueueArn', dlq.attrArn, 'Source ARN for `aws sqs start-message-move-task`');
    out('AccessKeySecretArn', secret.ref, 'Secret holding the Compliance Access Key (created empty; set it with `compliance-lake key register`)');
    out('KeyRegisterCommand', Fn.sub('target/bin/compliance-lake key register --secret-id ${AccessKeySecret} --table ${StateTable}'),
      'Step 3 of the deploy - store the Compliance Access Key (export ANTHROPIC_COMPLIANCE_ACCESS_KEY first)');
    out('AlarmTopicArn', topic.ref, 'SNS topic every alarm notifies');
    out('SchedulerFunctionName', scheduler.ref);
    out('WorkerFunctionName', worker.ref);
    out('AthenaWorkGroupName', workGroup.ref, 'Athena workgroup (results encrypted in the results bucket)');
    out('AthenaDatabaseName', database.ref, 'Glue database of the Athena tables');
    out('OperationsDashboardName', Fn.ref('OperationsDashboard'), 'CloudWatch dashboard (records, requests, budget, 429s, errors, queues, freshness, findings)');
    const condOut = (id: string, value: string, description: string, condition: CfnCondition) => {
      const o = out(id, value, description);
      o.condition = condition;
    };
    condOut('AuditReaderRoleArn', auditRole.attrArn, 'Role for audit-data queries (workgroup <stack>-audit)', readersOn);
    condOut('ContentReaderRoleArn', contentRole.attrArn, 'Role for content queries (workgroup <stack>-content)', readersOn);
    condOut('AccessLogsBucketName', accessLogs.ref, 'Server access logs of the lake bucket (prefix lake/)', loggingOn);
    condOut('DlpAlertRuleArn', alertRule.attrArn, 'EventBridge rule matching the DLP alerts (add your own targets with your own rules)', alertsOn);
  }
}

