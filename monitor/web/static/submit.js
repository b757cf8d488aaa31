// Report an item: a screenshot pasted from the clipboard (Ctrl+V anywhere on the page) fills the file input.
(function () {
  "use strict";
  var input = document.getElementById("submit-image");
  var status = document.getElementById("submit-paste-status");
  if (!input || typeof DataTransfer === "undefined") { return; }
  document.addEventListener("paste", function (event) {
    var items = (event.clipboardData && event.clipboardData.items) || [];
    for (var i = 0; i < items.length; i++) {
      if (items[i].kind === "file" && items[i].type.indexOf("image/") === 0) {
        var file = items[i].getAsFile();
        if (!file) { continue; }
        var named = new File([file], "pasted-screenshot." + (file.type.split("/")[1] || "png"), { type: file.type });
        var transfer = new DataTransfer();
        transfer.items.add(named);
        input.files = transfer.files;
        if (status) { status.textContent = named.name + " (" + Math.round(named.size / 1024) + " KB)"; }
        event.preventDefault();
        return;
      }
    }
  });
})();
