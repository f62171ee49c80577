'use strict';
// List filters are menus (<details class="ls-filter">): one open at a time, closed by a click
// elsewhere or by Escape (focus goes back to its button).
{
    const menus = Array.from(document.querySelectorAll('details.ls-filter'));
    if (menus.length > 0) {
        for (const menu of menus) {
            menu.addEventListener('toggle', function() {
                if (menu.open) {
                    for (const other of menus) {
                        if (other !== menu) {
                            other.open = false;
                        }
                    }
                }
            });
        }
        document.addEventListener('click', function(event) {
            for (const menu of menus) {
                if (menu.open && !menu.contains(event.target)) {
                    menu.open = false;
                }
            }
        });
        document.addEventListener('keydown', function(event) {
            if (event.key !== 'Escape') {
                return;
            }
            for (const menu of menus) {
                if (menu.open) {
                    menu.open = false;
                    menu.querySelector('summary').focus();
                }
            }
        });
    }
}
