// bitpay.js, served by kassa: BitPay's modal checkout API for shop pages.
// window.bitpay.showInvoice(id) opens kassa's checkout for an invoice in a
// full-window iframe; the checkout posts {invoiceId, status} messages with
// BitPay's status words to the shop page and {status: 'close'} when the
// buyer closes it, which hides the frame and calls onModalWillLeave.
// Comments stay on their own lines: the server strips them for bitpay.min.js.
(function () {
  'use strict';
  if (window.bitpay && window.bitpay.showInvoice) {
    return;
  }
  var doc = document;
  var pattern = /\/bitpay(\.min)?\.js([?#].*)?$/;
  var script = doc.currentScript;
  if (!script || !pattern.test(script.src)) {
    script = null;
    var scripts = doc.getElementsByTagName('script');
    for (var i = 0; i < scripts.length; i++) {
      if (pattern.test(scripts[i].src)) {
        script = scripts[i];
      }
    }
  }
  // The checkout lives where this script came from, under the same prefix.
  var prefix = script ? script.src.replace(pattern, '') : window.location.origin;
  var testMode = false;
  var frame = null;
  var opener = null;
  var onEnter = function () {};
  var onLeave = function () {};

  function strip(url) {
    return String(url).replace(/\/+$/, '');
  }

  // origin returns the checkout's base URL; test mode moves bitpay.com to
  // test.bitpay.com, which a kassa answering for both serves as well.
  function origin() {
    if (testMode) {
      return prefix.replace(/^https:\/\/(www\.)?bitpay\.com(?=\/|$)/, 'https://test.bitpay.com');
    }
    return prefix;
  }

  function remove() {
    if (frame && frame.parentNode) {
      frame.parentNode.removeChild(frame);
    }
    frame = null;
  }

  function showInvoice(invoiceId) {
    remove();
    opener = doc.activeElement;
    frame = doc.createElement('iframe');
    frame.name = 'bitpay';
    frame.title = 'Bitcoin payment';
    frame.setAttribute('allow', 'clipboard-write');
    frame.setAttribute('allowtransparency', 'true');
    var s = frame.style;
    s.position = 'fixed';
    s.top = '0';
    s.left = '0';
    s.width = '100%';
    s.height = '100%';
    s.border = '0';
    s.zIndex = '2147483000';
    s.background = 'transparent';
    frame.src = origin() + '/invoice?id=' + encodeURIComponent(invoiceId) + '&view=modal';
    onEnter();
    doc.body.appendChild(frame);
    frame.focus();
  }

  function hideFrame() {
    if (!frame) {
      return;
    }
    onLeave();
    remove();
    if (opener && opener.focus) {
      opener.focus();
    }
    opener = null;
  }

  window.addEventListener('message', function (e) {
    if (!frame || e.source !== frame.contentWindow) {
      return;
    }
    var d = e.data;
    if (d === 'close' || (d && d.status === 'close')) {
      hideFrame();
    }
  }, false);

  window.bitpay = {
    showInvoice: showInvoice,
    hideFrame: hideFrame,
    onModalWillEnter: function (fn) {
      onEnter = typeof fn === 'function' ? fn : function () {};
    },
    onModalWillLeave: function (fn) {
      onLeave = typeof fn === 'function' ? fn : function () {};
    },
    enableTestMode: function (enable) {
      testMode = enable !== false;
    },
    setApiUrlPrefix: function (url) {
      prefix = strip(url);
    }
  };
})();
