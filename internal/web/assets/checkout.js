// The checkout page's script. The page works without it (the server renders
// the state, the QR code and the amounts); the script adds the countdown,
// the copy buttons, live status over the event stream with a polling
// fallback, the redirect, the demo buttons and, inside an iframe, BitPay's
// postMessage contract.
// Comments stay on their own lines: the server strips them when it serves.
(function () {
  'use strict';
  var doc = document;
  var cfg = JSON.parse(doc.getElementById('kassa-config').textContent);
  var inv = JSON.parse(doc.getElementById('kassa-invoice').textContent);
  var T = cfg.t;
  var root = doc.getElementById('checkout');
  var statusEl = doc.getElementById('status');
  var noteEl = doc.getElementById('note');
  var amountEl = doc.getElementById('amount');
  var countdownEl = doc.getElementById('countdown');
  var framed = window.parent !== window;
  // The server's clock minus ours, so the countdown matches the server.
  var skew = inv.currentTime - Date.now();
  var newest = inv.currentTime;
  var qrPaid = inv.amountPaid;
  var lastPosted = null;
  var postedPaid = false;
  var redirecting = false;
  var source = null;
  var pollTimer = null;
  var finished = false;
  doc.documentElement.className = 'js';

  function now() {
    return Date.now() + skew;
  }

  // stateOf maps an invoice to the page's states; an unpaid invoice whose
  // window has passed shows as expired before the server says so.
  function stateOf(j) {
    switch (j.status) {
      case 'new':
        if (j.expirationTime <= now()) {
          return 'expired';
        }
        return j.amountPaid > 0 ? 'partial' : 'waiting';
      case 'paid':
        return 'paid';
      case 'confirmed':
      case 'complete':
        return 'confirmed';
      case 'expired':
        return 'expired';
      default:
        return 'invalid';
    }
  }

  function fill(text) {
    return text.split('{due}').join(inv.btcDue).split('{paid}').join(inv.displayAmountPaid);
  }

  function setText(el, text) {
    if (el && el.textContent !== text) {
      el.textContent = text;
    }
  }

  // post tells the embedding page about the status with BitPay's words; a
  // status past paid is preceded by one paid message, which is what
  // integrations wait for.
  function post(status) {
    if (!framed || status === lastPosted) {
      return;
    }
    if (!postedPaid && (status === 'confirmed' || status === 'complete')) {
      window.parent.postMessage({invoiceId: inv.id, status: 'paid'}, '*');
    }
    if (status === 'paid' || status === 'confirmed' || status === 'complete') {
      postedPaid = true;
    }
    lastPosted = status;
    window.parent.postMessage({invoiceId: inv.id, status: status}, '*');
  }

  function close() {
    if (framed) {
      window.parent.postMessage({invoiceId: inv.id, status: 'close'}, '*');
    }
  }

  function apply() {
    var state = stateOf(inv);
    if (root.getAttribute('data-state') !== state) {
      root.setAttribute('data-state', state);
    }
    var text = fill(T['st_' + state]);
    if (redirecting) {
      text += ' ' + T.redirecting;
    }
    setText(statusEl, text);
    setText(noteEl, inv.exceptionStatus ? (T['note_' + inv.exceptionStatus] || '') : '');
    setText(amountEl, inv.btcDue);
    var bip21 = inv.paymentUrls && inv.paymentUrls.BIP21;
    var wallet = doc.getElementById('wallet');
    if (bip21 && wallet && wallet.getAttribute('href') !== bip21) {
      wallet.setAttribute('href', bip21);
    }
    if (state === 'partial' && inv.amountPaid !== qrPaid) {
      // The QR code asks for what is still due: fetch the new one.
      qrPaid = inv.amountPaid;
      var img = doc.createElement('img');
      img.alt = T.qr_label;
      img.src = cfg.base + '/invoice/qr?id=' + encodeURIComponent(inv.id) + '&paid=' + qrPaid;
      var box = doc.getElementById('qr');
      box.textContent = '';
      box.appendChild(img);
    }
    post(inv.status);
    if ((state === 'paid' || state === 'confirmed') && cfg.autoRedirect && cfg.redirectURL && !cfg.modal && !redirecting) {
      redirecting = true;
      setText(statusEl, text + ' ' + T.redirecting);
      setTimeout(function () {
        window.location.assign(cfg.redirectURL);
      }, 2000);
    }
    if (inv.status === 'complete' || inv.status === 'expired' || inv.status === 'declined') {
      stop();
    }
  }

  // update applies a newer invoice snapshot; older ones (a slow poll that
  // crossed an event) are ignored.
  function update(j) {
    if (!j || j.id !== inv.id || j.currentTime < newest) {
      return;
    }
    newest = j.currentTime;
    inv = j;
    apply();
  }

  function stop() {
    finished = true;
    if (source) {
      source.close();
      source = null;
    }
    stopPolling();
  }

  function poll() {
    fetch(cfg.base + '/invoices/' + encodeURIComponent(inv.id), {cache: 'no-store', headers: {Accept: 'application/json'}})
      .then(function (r) {
        return r.ok ? r.json() : null;
      })
      .then(function (body) {
        if (body && body.data) {
          update(body.data);
        }
      })
      .catch(function () {});
  }

  function startPolling() {
    if (!pollTimer && !finished) {
      pollTimer = setInterval(poll, cfg.pollMs);
      poll();
    }
  }

  function stopPolling() {
    if (pollTimer) {
      clearInterval(pollTimer);
      pollTimer = null;
    }
  }

  // listen follows the invoice over the event stream; while the stream is
  // down (or absent) the page polls the public invoice resource instead.
  function listen() {
    if (finished) {
      return;
    }
    if (typeof window.EventSource !== 'function') {
      startPolling();
      return;
    }
    try {
      source = new window.EventSource(cfg.base + '/events?invoiceId=' + encodeURIComponent(inv.id));
    } catch (e) {
      startPolling();
      return;
    }
    source.addEventListener('open', function () {
      stopPolling();
      // Catch up on anything that happened before the stream opened.
      poll();
    });
    source.addEventListener('statechange', function (e) {
      try {
        var j = JSON.parse(e.data);
        update(j && j.data ? j.data : j);
      } catch (err) {
        poll();
      }
    });
    source.addEventListener('error', function () {
      if (source && source.readyState === 2) {
        source = null;
      }
      startPolling();
    });
  }

  function tick() {
    var state = stateOf(inv);
    if (state !== 'waiting' && state !== 'partial') {
      if (root.getAttribute('data-state') !== state) {
        apply();
        poll();
      }
      return;
    }
    var left = Math.max(0, Math.floor((inv.expirationTime - now()) / 1000));
    var m = Math.floor(left / 60);
    var s = left % 60;
    setText(countdownEl, m + ':' + (s < 10 ? '0' : '') + s);
  }

  function copy(button) {
    var el = doc.getElementById(button.getAttribute('data-copy'));
    var text = el.textContent;
    var log = doc.getElementById('copy-log');
    var done = function () {
      log.textContent = '';
      setTimeout(function () {
        log.textContent = T.copied;
      }, 50);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () {
        selectText(el);
      });
    } else {
      selectText(el);
      try {
        if (doc.execCommand('copy')) {
          done();
        }
      } catch (e) {}
    }
  }

  function selectText(el) {
    var range = doc.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  doc.addEventListener('click', function (e) {
    var b = e.target.closest ? e.target.closest('button') : null;
    if (!b) {
      return;
    }
    if (b.hasAttribute('data-copy')) {
      copy(b);
    } else if (b.id === 'close' || b.classList.contains('close')) {
      close();
    }
  });

  doc.addEventListener('keydown', function (e) {
    if (e.key === 'Escape' && cfg.modal) {
      close();
    }
  });

  // The demo buttons post their forms in the background; the status then
  // changes through the event stream like any payment.
  var forms = doc.querySelectorAll('form.demo-action');
  for (var i = 0; i < forms.length; i++) {
    forms[i].addEventListener('submit', function (e) {
      e.preventDefault();
      var form = e.currentTarget;
      var log = doc.getElementById('demo-log');
      fetch(form.action, {method: 'POST', body: new URLSearchParams(new FormData(form))})
        .then(function (r) {
          return r.text().then(function (t) {
            setText(log, (r.ok ? T.demo_sent : T.demo_failed) + ' ' + t.trim());
            if (!source) {
              poll();
            }
          });
        })
        .catch(function (err) {
          setText(log, T.demo_failed + ' ' + err);
        });
    });
  }

  apply();
  tick();
  setInterval(tick, 1000);
  listen();
})();
