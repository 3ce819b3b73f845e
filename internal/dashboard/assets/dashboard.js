// The dashboard's only script; every page works without it.
// Live address preview: as a receiving key is typed into a field marked
// data-preview, its first three addresses are fetched from
// /dashboard/preview and shown in #preview. Text goes in with
// textContent, never as HTML.
(function () {
  'use strict';
  var input = document.querySelector('[data-preview]');
  var out = document.getElementById('preview');
  if (!input || !out || !input.form) {
    return;
  }
  var form = input.form;
  var url = input.getAttribute('data-preview');
  var timer = null;
  var seq = 0;
  function show(p) {
    out.textContent = '';
    out.hidden = false;
    var head = document.createElement('p');
    if (!p.ok) {
      head.className = 'bad';
      head.textContent = p.error || 'This key cannot be used.';
      out.appendChild(head);
      return;
    }
    head.textContent = 'First receive addresses (' + p.type + ' on ' + p.network + '): check them against your wallet.';
    out.appendChild(head);
    var list = document.createElement('ol');
    list.start = 0;
    p.addresses.forEach(function (a) {
      var li = document.createElement('li');
      var code = document.createElement('code');
      code.textContent = a;
      li.appendChild(code);
      list.appendChild(li);
    });
    out.appendChild(list);
  }
  function run() {
    var key = input.value.trim();
    var mine = ++seq;
    if (key === '') {
      out.hidden = true;
      return;
    }
    var body = new URLSearchParams();
    body.set('key', key);
    body.set('csrf', form.elements.csrf.value);
    fetch(url, { method: 'POST', body: body, credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        if (mine === seq) {
          show(p);
        }
      })
      .catch(function () {});
  }
  input.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(run, 250);
  });
  if (input.value.trim() !== '' && out.hidden) {
    run();
  }
})();
// Forms marked data-confirm ask before they are sent (revoke, remove).
document.addEventListener('submit', function (e) {
  var msg = e.target.getAttribute && e.target.getAttribute('data-confirm');
  if (msg && !window.confirm(msg)) {
    e.preventDefault();
  }
});
