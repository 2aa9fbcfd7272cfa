// The demo page's only script: ?lang=ru shows the chat in Russian, and the page logs the chat's
// events to the console, the way a host page would listen to them.
const chat = document.querySelector('sov-chat');
const lang = new URLSearchParams(location.search).get('lang');
if (lang) {
  document.documentElement.lang = lang;
  chat.setAttribute('lang', lang);
}
for (const name of ['sov-login', 'sov-logout', 'sov-message']) {
  chat.addEventListener(name, (event) => console.info(name, event.detail));
}
