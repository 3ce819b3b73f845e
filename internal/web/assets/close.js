// The not-found page inside the modal: its close button tells the shop page.
(function () {
  'use strict';
  document.documentElement.className = 'js';
  document.getElementById('close').addEventListener('click', function () {
    window.parent.postMessage({invoiceId: null, status: 'close'}, '*');
  });
})();
