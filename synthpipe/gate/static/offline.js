/* synthpipe: stands in for jQuery and bootstrap-table, which Great Expectations' Data Docs load from CDNs.
   Offline (or opened from disk without network) the pages' tables would stay empty; with this file they are
   filled from the data each page carries inline. Interactive extras (sorting, filters, modals) do nothing. */
(function () {
  "use strict";
  function Query(nodes) { this.nodes = nodes; this.length = nodes.length; }
  ["on", "off", "addClass", "removeClass", "modal", "fadeIn", "fadeOut", "parent", "tooltip", "popover", "tab",
   "collapse", "show", "hide", "click", "each", "css", "attr", "alert", "datepicker"].forEach(function (name) {
    Query.prototype[name] = function () { return this; };
  });
  Query.prototype.ready = function (callback) { whenReady(callback); return this; };
  Query.prototype.bootstrapTable = function (options) {
    if (options && typeof options === "object") { this.nodes.forEach(function (table) { fill(table, options); }); }
    return this;
  };

  function $(target) {
    if (typeof target === "function") { whenReady(target); return new Query([]); }
    if (typeof target === "string") {
      try { return new Query(Array.prototype.slice.call(document.querySelectorAll(target))); }
      catch (error) { return new Query([]); }
    }
    return new Query(target ? [target] : []);
  }

  function whenReady(callback) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", function () { callback($); });
    } else {
      callback($);
    }
  }

  // One plain table: a header row from `columns`, a row per item of `data` (cells are GX's own HTML), and a link
  // to the row's page where GX makes the row clickable.
  function fill(table, options) {
    var columns = options.columns || [];
    var head = "<thead><tr>" + columns.map(function (c) { return "<th>" + (c.title || c.field) + "</th>"; }).join("");
    var linked = (options.data || []).some(function (row) { return row._table_row_link_path; });
    head += (linked ? "<th></th>" : "") + "</tr></thead>";
    var body = (options.data || []).map(function (row) {
      var cells = columns.map(function (c) { return "<td>" + (row[c.field] === undefined ? "" : row[c.field]) + "</td>"; });
      if (linked) { cells.push(row._table_row_link_path ? '<td><a href="' + row._table_row_link_path + '">open</a></td>' : "<td></td>"); }
      return "<tr>" + cells.join("") + "</tr>";
    }).join("");
    table.innerHTML = head + "<tbody>" + body + "</tbody>";
    table.classList.add("synthpipe-offline-table");
  }

  window.$ = window.jQuery = $;
})();
