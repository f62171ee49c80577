'use strict';
// Lightning Sync Setup: show the section of the chosen connection method (both stay in the
// page, and both are shown when JavaScript is off).
{
    const radios = document.querySelectorAll('input[name="connection_method"]');
    const sections = document.querySelectorAll('fieldset[data-method]');
    const update = function() {
        const chosen = document.querySelector('input[name="connection_method"]:checked');
        if (chosen === null) {
            return;
        }
        for (const section of sections) {
            section.hidden = section.dataset.method !== chosen.value;
        }
    };
    radios.forEach((radio) => radio.addEventListener('change', update));
    update();
}
