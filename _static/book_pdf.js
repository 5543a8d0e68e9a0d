// The download menu offers the whole book as one PDF: `make pdf` writes it to
// the site's root as book.pdf (tools/book_pdf.py). The theme's own ".pdf"
// entry prints the current page only, and says so.
document.addEventListener("DOMContentLoaded", () => {
  const menu = document.querySelector(".dropdown-download-buttons ul.dropdown-menu");
  if (!menu) return;
  const pagePdf = menu.querySelector(".btn-download-pdf-button .btn__text-container");
  if (pagePdf) pagePdf.textContent = "this page (print)";
  const root = document.documentElement.dataset.content_root || "./";
  const item = document.createElement("li");
  item.innerHTML =
    `<a href="${root}book.pdf" class="btn btn-sm btn-download-book-pdf dropdown-item" ` +
    `title="The whole book as one PDF">` +
    `<span class="btn__icon-container"><i class="fas fa-book"></i></span>` +
    `<span class="btn__text-container">whole book (.pdf)</span></a>`;
  menu.appendChild(item);
});
