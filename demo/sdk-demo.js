// A minimal chat on the `sovereign-chat` SDK: sign in, read and write the "general" room.
import { SovClient, SovError } from '/sovereign-chat.js';

const $ = (selector) => document.querySelector(selector);
const client = new SovClient({ relay: location.origin });
const names = new Map();

function nameOf(userId) {
  if (!names.has(userId))
    names.set(
      userId,
      client.profile(userId).then(
        (user) => user.username,
        () => `#${userId}`,
      ),
    );
  return names.get(userId);
}

async function show(message) {
  let item = document.getElementById(`m-${message.cid}`);
  if (!item) {
    item = document.createElement('li');
    item.id = `m-${message.cid}`;
    $('#messages').append(item);
  }
  item.scrollIntoView({ block: 'nearest' });
  const author = await nameOf(message.author);
  const mark = message.verified ? '✓' : '⚠ unverified';
  // textContent, never innerHTML: names and messages are text.
  item.textContent = `${author}: ${message.text}  ${mark} ${message.state === 'sent' ? '' : `(${message.state})`}`;
}

async function enter() {
  $('#login').hidden = true;
  $('#chat').hidden = false;
  const room = await client.join('general');
  for (const message of room.messages) show(message);
  room.on('message', show);
  room.on('join', (user) => ($('#status').textContent = `${user.username} joined`));
}

$('#login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  $('#status').textContent = 'Signing in…';
  try {
    await client.login({
      username: form.get('username'),
      password: form.get('password'),
    });
    $('#status').textContent = '';
    await enter();
  } catch (error) {
    $('#status').textContent = error instanceof SovError ? `${error.code}: ${error.message}` : String(error);
  }
});

$('#composer').addEventListener('submit', async (event) => {
  event.preventDefault();
  const input = event.target.elements.text;
  const room = await client.join('general');
  room.send(input.value).catch((error) => ($('#status').textContent = error.message));
  input.value = '';
});

$('#exit').addEventListener('click', () => client.logout().then(() => location.reload()));

if (await client.resume()) await enter();
