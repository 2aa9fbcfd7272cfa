/**
 * The components' translations (web-components/shared/i18n.ts) in real Chromium: plural forms, a third
 * language added with registerTranslation and shown at once, a built-in word changed.
 */
import { expect } from '@esm-bundle/chai';
import { registerTranslation } from '../../../web-components/index.ts';
import type { SovRoster } from '../../../web-components/sov-roster/sov-roster.ts';
import { loadTable, translate } from '../../../web-components/shared/i18n.ts';
import { text } from '../shadow-queries.ts';
import { until } from '../until.ts';
import { mount, setUpComponentTests } from './component-page.ts';

setUpComponentTests();

describe('translations (web-components/shared/i18n.ts)', function () {
  this.timeout(60_000);

  it('counts in Russian with the right plural forms', async () => {
    await loadTable('ru');
    expect(translate('ru', 'roster.count', { n: 1 })).to.equal('1 человек в сети');
    expect(translate('ru', 'roster.count', { n: 3 })).to.equal('3 человека в сети');
    expect(translate('ru', 'roster.count', { n: 5 })).to.equal('5 человек в сети');
    expect(translate('ru', 'roster.count', { n: 21 })).to.equal('21 человек в сети');
    expect(translate('en', 'roster.count', { n: 1 })).to.equal('1 person online');
  });

  it('takes a third language from registerTranslation, English for the words it lacks, and shows it at once', async () => {
    const roster = mount<SovRoster>('sov-roster', {}, { lang: 'uk-UA' });
    await roster.updateComplete;
    expect(text(roster.shadowRoot!)).to.include('0 people online');
    registerTranslation('uk', {
      'roster.title': 'У мережі',
      'roster.count': {
        one: '{n} людина в мережі',
        few: '{n} людини в мережі',
        many: '{n} людей в мережі',
        other: '{n} людини в мережі',
      },
    });
    await until(
      () => text(roster.shadowRoot!).includes('У мережі'),
      'the Ukrainian title on the element already shown',
    );
    expect(text(roster.shadowRoot!)).to.include('0 людей в мережі');
    expect(translate('uk', 'roster.count', { n: 3 })).to.equal('3 людини в мережі');
    expect(translate('uk', 'chat.send')).to.equal('Send', 'a word it lacks, in English');
    // Changing one built-in word keeps the rest of the language, whether its table had loaded or not.
    registerTranslation('ru', { 'chat.gap': 'Пропуск в истории.' });
    await loadTable('ru');
    expect(translate('ru', 'chat.gap')).to.equal('Пропуск в истории.');
    expect(translate('ru', 'roster.count', { n: 5 })).to.equal('5 человек в сети');
  });
});
