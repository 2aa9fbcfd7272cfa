/**
 * <sov-profile> in real Chromium against the real relay: names, the avatar, the password change.
 */
import { expect } from '@esm-bundle/chai';
import { MIN_PASSWORD_LENGTH } from '../../../sdk/client.ts';
import type { SovProfile } from '../../../web-components/sov-profile/sov-profile.ts';
import { button, field, fill, text } from '../shadow-queries.ts';
import { until } from '../until.ts';
import { PASSWORD, mount, person, setUpComponentTests } from './component-page.ts';

setUpComponentTests();

/** A PNG of `side` x `side` random pixels (noise does not compress, so the file is large). */
async function png(side: number): Promise<File> {
  const canvas = new OffscreenCanvas(side, side);
  const pixels = new ImageData(side, side);
  for (let i = 0; i < pixels.data.length; i += 4) {
    crypto.getRandomValues(pixels.data.subarray(i, i + 3));
    pixels.data[i + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(pixels, 0, 0);
  return new File([await canvas.convertToBlob({ type: 'image/png' })], 'me.png', { type: 'image/png' });
}

function choose(input: HTMLInputElement, file: File): void {
  const transfer = new DataTransfer();
  transfer.items.add(file);
  input.files = transfer.files;
  input.dispatchEvent(new Event('change', { bubbles: true }));
}

describe('<sov-profile>', function () {
  this.timeout(60_000);

  it('shows the id read-only and saves names, refusing a taken username next to the field', async () => {
    const ann = await person();
    const bob = await person();
    const profile = mount<SovProfile>('sov-profile', { client: ann.client });
    await profile.updateComplete;
    const root = profile.shadowRoot!;
    const id = field(root, 'ID') as HTMLInputElement;
    expect(id.value).to.equal(String(ann.user.id));
    expect(id.readOnly).to.equal(true);
    fill(field(root, 'Username'), bob.username);
    fill(field(root, 'First name'), 'Annette');
    button(root, 'Save')!.click();
    await until(() => text(root).includes('This username is taken.'), 'the taken message');
    expect(field(root, 'Username')!.getAttribute('aria-invalid')).to.equal('true');
    fill(field(root, 'Username'), ann.username);
    button(root, 'Save')!.click();
    await until(() => root.querySelector('[role=status]')?.textContent === 'Saved', 'Saved');
    expect(ann.client.user!.firstName).to.equal('Annette');
  });

  it('refuses a file that is not a picture, or over max-avatar-bytes, with the limit in words', async () => {
    const ann = await person();
    const profile = mount<SovProfile>('sov-profile', { client: ann.client }, { 'max-avatar-bytes': String(2 * 1024) });
    await profile.updateComplete;
    const root = profile.shadowRoot!;
    const input = root.querySelector<HTMLInputElement>('input[type=file]')!;
    choose(input, new File(['just text'], 'notes.png', { type: 'image/png' }));
    await until(() => text(root).includes('This file is not a picture.'), 'the not-a-picture message');
    choose(input, await png(400));
    await until(() => text(root).includes('The picture is too large (the limit is 2 kB).'), 'the too-large message');
  });

  it('previews the round avatar and uploads it with progress', async () => {
    const ann = await person();
    const profile = mount<SovProfile>('sov-profile', { client: ann.client });
    await profile.updateComplete;
    const root = profile.shadowRoot!;
    choose(root.querySelector<HTMLInputElement>('input[type=file]')!, await png(600));
    await until(
      () => root.querySelector('sov-avatar')?.shadowRoot?.querySelector('img')?.src.startsWith('blob:') === true,
      'the preview',
    );
    const preview = root.querySelector('sov-avatar')!.shadowRoot!.querySelector('img')!;
    const bitmap = await createImageBitmap(await (await fetch(preview.src)).blob());
    expect([bitmap.width, bitmap.height]).to.deep.equal([256, 256]);
    button(root, 'Save')!.click();
    await until(() => root.querySelector('progress') !== null, 'the upload progress');
    await until(() => ann.client.user!.avatar !== null, 'the uploaded avatar');
    await until(
      () =>
        root.querySelector('sov-avatar')!.shadowRoot!.querySelector('img')!.src ===
        ann.client.avatarUrl(ann.client.user!),
      'the avatar from the relay',
    );
  });
});

describe('<sov-profile> password change', function () {
  this.timeout(60_000);

  it('refuses a short new password and a wrong current one next to their fields, then changes it', async () => {
    const ann = await person();
    const profile = mount<SovProfile>('sov-profile', { client: ann.client });
    await profile.updateComplete;
    const root = profile.shadowRoot!;
    const change = async (current: string, next: string, shown: () => boolean, what: string) => {
      fill(field(root, 'Current password'), current);
      fill(field(root, 'New password'), next);
      button(root, 'Change password')!.click();
      await until(shown, what, 30_000);
    };
    await change(
      PASSWORD,
      'short',
      () => field(root, 'New password')!.getAttribute('aria-invalid') === 'true',
      'the too-short mark',
    );
    expect(text(root)).to.include(`At least ${MIN_PASSWORD_LENGTH} characters.`);
    await change(
      'not my password',
      'a brand new password',
      () => field(root, 'Current password')!.getAttribute('aria-invalid') === 'true',
      'the wrong-password mark',
    );
    expect(text(root)).to.include('Wrong password.');
    const before = ann.client.user!.keys.length;
    await change(PASSWORD, 'a brand new password', () => text(root).includes('Password changed.'), 'Password changed');
    expect(ann.client.user!.keys.length, 'a new signing key').to.equal(before + 1);
    expect((field(root, 'Current password') as HTMLInputElement).value, 'the form is cleared').to.equal('');
  });
});
