#!/usr/bin/env node
// CDK app: the same stack as infra/template.yaml (SAM), from the same cargo-lambda artifacts and the
// same Athena definitions (infra/athena/). Context:
//   -c stackName=NAME            CloudFormation stack name (default compliance-lake)
//   -c artifactsDir=DIR          where <fn>/bootstrap are (default <repo>/target/lambda)
//   -c placeholderAssets=true    synth without built functions (validation only; see lib/assets.ts)
import * as cdk from 'aws-cdk-lib';
import { ComplianceLakeStack } from '../lib/compliance-lake-stack';

const app = new cdk.App({ analyticsReporting: false });
const stackName: string = app.node.tryGetContext('stackName') ?? 'compliance-lake';
new ComplianceLakeStack(app, 'ComplianceLake', {
  stackName,
  description:
    "compliance-lake: copies everything Anthropic's Compliance API holds into this account's S3 lake " +
    '(gzip NDJSON, queryable with Athena) and scans it for sensitive data (DLP). Deployed with the CDK app in infra/cdk.',
});
