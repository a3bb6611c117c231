import { describe, expect, it } from 'vitest';
import { refeedCommand } from '../../src/cli/refeed.js';

describe('the re-feed command a run with rejects prints', () => {
  it("names the reject file in the input's place and never shows a --url's password or query key", () => {
    for (const url of [
      ['--url', 'http://u:hunter2@127.0.0.1:18400/?subscription-key=KEY123'],
      ['--url=http://u:hunter2@127.0.0.1:18400/?subscription-key=KEY123'],
    ]) {
      const command = refeedCommand([...url, 'link', '--file', 'in.csv', '--rejects', 'r.csv'], 'in.csv', '/w/in.rejects.csv', '/w');
      expect(command).toContain("link --file 'in.rejects.csv'");
      expect(command).toContain('http://***@127.0.0.1:18400/?subscription-key=***');
      expect(command).not.toMatch(/hunter2|KEY123|r\.csv/);
      expect(command).toMatch(/\(\*\*\* where the --url has a secret, not shown: type it in again\)$/);
    }
  });

  it('says nothing of secrets when the command has none', () => {
    const command = refeedCommand(['--url', 'http://127.0.0.1:18400/', 'link', '--file', 'in.csv'], 'in.csv', '/w/in.rejects.csv', '/w');
    expect(command).toBe("sparctl --url http://127.0.0.1:18400/ link --file 'in.rejects.csv'");
  });
});
