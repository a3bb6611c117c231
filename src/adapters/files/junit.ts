import { writeFile } from 'node:fs/promises';
import { UsageError } from '../../core/errors.js';
import { checkOutputPath, describeFailure } from './fs-errors.js';
import type { SmokeReport, SmokeStepResult } from '../../core/smoke.js';

/**
 * The JUnit XML report of `sparctl smoke`, as CI systems (GitLab, Jenkins, GitHub test
 * reporters) read it: one <testsuite name="sparctl smoke">, a <testcase> per step with its time
 * in seconds, <failure> for a wrong answer, <error> for a call that threw, <skipped/> for a step
 * that did not run.
 */

export const JUNIT_SUITE_NAME = 'sparctl smoke';

// Characters XML 1.0 cannot carry at all, not even as &#…; references: C0 controls other than
// tab/LF/CR, lone surrogates, U+FFFE/U+FFFF. They are shown as \uXXXX text instead.
const NOT_XML =
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function visible(text: string): string {
  return text.replace(NOT_XML, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Element content: & < > escaped (> too, so "]]>" cannot appear). */
export function xmlText(text: string): string {
  return visible(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** An attribute value in double quotes; tab, LF and CR as references so parsers keep them. */
export function xmlAttr(text: string): string {
  return xmlText(text)
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;');
}

const seconds = (ms: number | null): string => ((ms ?? 0) / 1000).toFixed(3);

function testcase(step: SmokeStepResult): string {
  const open = `    <testcase name="${xmlAttr(step.title)}" classname="sparctl.smoke" time="${seconds(step.ms)}"`;
  const body = `expected: ${step.expected}\ngot: ${step.got}${step.cleanup ? '\n(run as cleanup after an earlier failure)' : ''}`;
  if (step.status === 'pass') return `${open}/>`;
  if (step.status === 'skipped') return `${open}>\n      <skipped message="${xmlAttr(step.got)}"/>\n    </testcase>`;
  const element = step.error ? 'error' : 'failure';
  const type = step.error ? step.error.code : 'wrong_answer';
  const message = `expected ${step.expected}, got ${step.got}`;
  return `${open}>\n      <${element} message="${xmlAttr(message)}" type="${xmlAttr(type)}">${xmlText(body)}</${element}>\n    </testcase>`;
}

/** The whole document; `timestamp` is when the run started. Pure, so tests can parse it back. */
export function smokeJunitXml(report: SmokeReport, timestamp: Date): string {
  const count = (pick: (s: SmokeStepResult) => boolean) => report.steps.filter(pick).length;
  const counts = `tests="${report.steps.length}" failures="${count((s) => s.status === 'fail' && !s.error)}" errors="${count((s) => s.status === 'fail' && s.error !== undefined)}" skipped="${count((s) => s.status === 'skipped')}" time="${seconds(report.ms)}"`;
  const properties = [
    ['target', report.target],
    ['id', report.id],
    ['cleanup', report.cleanup.state],
  ]
    .map(([name, value]) => `      <property name="${xmlAttr(name!)}" value="${xmlAttr(value!)}"/>`)
    .join('\n');
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xmlAttr(JUNIT_SUITE_NAME)}" ${counts}>`,
    `  <testsuite name="${xmlAttr(JUNIT_SUITE_NAME)}" ${counts} timestamp="${timestamp.toISOString().slice(0, 19)}">`,
    '    <properties>',
    properties,
    '    </properties>',
    ...report.steps.map(testcase),
    `    <system-out>${xmlText(`target: ${report.target}\nid: ${report.id}\ncleanup: ${report.cleanup.state}: ${report.cleanup.detail}`)}</system-out>`,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

/** Before the run: its folder made and the file known writable (`output.*`, exit 2), so no step is run for nothing. */
export function checkJunitPath(path: string): void {
  checkOutputPath(path, false);
}

/** Writes the report; a failure is `smoke.junit_unwritable` naming the path and the system's reason. */
export async function writeJunitFile(path: string, xml: string): Promise<void> {
  try {
    checkOutputPath(path, false);
    await writeFile(path, xml, 'utf8');
  } catch (error) {
    throw new UsageError('smoke.junit_unwritable', describeFailure(path, 'cannot write the JUnit report', error), {
      hint: 'check the path and the free space; the report above is complete',
      cause: error,
    });
  }
}
