/**
 * <sov-roster> in real Chromium against the real relay: who is online, live.
 */
import { expect } from '@esm-bundle/chai';
import type { SovRoster } from '../../../web-components/sov-roster/sov-roster.ts';
import { uniqueName } from '../relay.ts';
import { text } from '../shadow-queries.ts';
import { until } from '../until.ts';
import { mount, person, setUpComponentTests } from './component-page.ts';

setUpComponentTests();

describe('<sov-roster>', function () {
  this.timeout(60_000);

  it('lists who is online in the room, live', async () => {
    const room = uniqueName('room');
    const ann = await person({ firstName: 'Ann' });
    const bob = await person({ firstName: 'Bob' });
    const roster = mount<SovRoster>('sov-roster', { client: ann.client }, { room });
    const names = () =>
      [...roster.shadowRoot!.querySelectorAll('li')].map((item) => item.textContent!.replace(/\s+/g, ' ').trim());
    await until(() => names().length === 1, 'Ann alone');
    expect(text(roster.shadowRoot!)).to.include('1 person online');
    await bob.client.join(room);
    await until(() => names().length === 2, 'Bob arriving');
    expect(names().some((name) => name.includes(bob.name) && name.includes(`@${bob.username}`))).to.equal(true);
    expect(text(roster.shadowRoot!)).to.include('2 people online');
    await bob.client.updateProfile({ firstName: 'Robert' });
    await until(() => names().some((name) => name.startsWith('Robert')), 'the new name');
    await bob.client.leave(room);
    await until(() => names().length === 1, 'Bob leaving');
  });
});
