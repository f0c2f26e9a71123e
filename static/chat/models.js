// The model picker and the reasoning-effort select under the composer.

export function price(usd) {
  const n = Number(usd);
  if (usd === null || usd === undefined || !Number.isFinite(n)) return "?";
  return `$${n.toFixed(4).replace(/(\.\d\d\d*?)0+$/, "$1").replace(/\.00$/, "")}`;
}

function describe(model) {
  const traits = [model.reasoning && "reasons", model.images && "reads images"].filter(Boolean);
  return [model.id, ...traits, `${price(model.input_price)} in / ${price(model.output_price)} out per 1M tokens`]
    .join(" · ");
}

/**
 * Fill #model and #effort from the boot catalog.
 * Returns `choice()`: the model id and options a turn.start should carry.
 */
export function setupModelPicker({ models, preferred, select, effort, effortLabel, info, webSearch }) {
  const byId = new Map(models.map((m) => [m.id, m]));
  for (const model of models) {
    const option = document.createElement("option");
    option.value = model.id;
    option.textContent = describe(model);
    select.append(option);
  }
  const initial = byId.get(preferred) || models.find((m) => m.is_default) || models[0];
  if (initial) select.value = initial.id;

  function showModel() {
    const model = byId.get(select.value);
    const efforts = model?.efforts || [];
    effort.replaceChildren(...efforts.map((name) => {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      option.selected = name === model.default_effort;
      return option;
    }));
    effort.hidden = effortLabel.hidden = efforts.length === 0;
    effort.disabled = efforts.length === 0;
    if (!model) {
      info.textContent = "";
      return;
    }
    const context = model.context_window ? `${Number(model.context_window).toLocaleString("en")} token context · ` : "";
    info.textContent = `${context}${price(model.input_price)} in / ${price(model.output_price)} out per 1M tokens`;
  }

  select.addEventListener("change", showModel);
  showModel();

  return function choice() {
    const options = effort.hidden || !effort.value ? {} : { reasoning_effort: effort.value };
    if (webSearch?.checked) options.web_search = true;
    return { model: select.value, options };
  };
}
